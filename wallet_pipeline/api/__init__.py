"""The investigator HTTP API over the published snapshot: `create_app` in `wallet_pipeline.api.app`."""
