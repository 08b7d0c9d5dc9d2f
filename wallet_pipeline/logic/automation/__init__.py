"""What schedules and sensors decide with: drift, gates, alerts and their webhooks."""
