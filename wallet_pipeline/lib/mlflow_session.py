"""MLflow tracking and the model registry, for the assets that train and score models.

A small resource of our own rather than dagster-mlflow, which lags MLflow 3. Runs are named
`<asset key>-<dagster run id[:8]>` and tagged with the Dagster run id, so a retried step reuses
its MLflow run and every MLflow run links back to the Dagster run that made it. By default the
tracking store is a sqlite file in the data folder (MLflow 3's default kind of store) with
artifacts beside it; `MLFLOW_TRACKING_URI` points elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import Field

# Re-exported: the helpers that need neither Dagster nor MLflow live in mlflow_store.
from wallet_pipeline.lib.mlflow_store import CHAMPION, point_mlflow_at
from wallet_pipeline.settings import default_tracking_uri

__all__ = [
    "CHAMPION",
    "DAGSTER_ASSET_TAG",
    "DAGSTER_RUN_TAG",
    "MlflowSession",
    "default_tracking_uri",
    "point_mlflow_at",
]

DAGSTER_RUN_TAG = "dagster.run_id"
DAGSTER_ASSET_TAG = "dagster.asset_key"
# MLflow 3's UI opens an experiment in its GenAI (traces) view unless the experiment says it is
# classic model training; these are training runs with metrics, artifacts and registered models.
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
# Where `wallet-pipeline mlflow-ui` serves a local sqlite store (its default port).
LOCAL_UI = "http://127.0.0.1:5000"


def _safe_base(uri: str) -> str:
    """A tracking server's URL without credentials (http://user:pass@host) or trailing slash."""
    scheme, rest = uri.split("://", 1)
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}".rstrip("/")


class MlflowSession(dg.ConfigurableResource):
    """An MLflow experiment on one tracking store, with the registry of that store."""

    tracking_uri: str = Field(description="MLflow tracking URI (sqlite:///..., http://...).")
    experiment: str = Field(default="wallet_pipeline", description="Experiment name.")
    artifact_root: str | None = Field(
        default=None, description="Where a new experiment stores artifacts; default beside the sqlite file."
    )

    def _connect(self):  # noqa: ANN202 - mlflow's experiment id
        import mlflow

        point_mlflow_at(self.tracking_uri)
        experiment = mlflow.get_experiment_by_name(self.experiment)
        if experiment is None:
            location = self.artifact_root or self._artifacts_beside_store()
            experiment_id = mlflow.create_experiment(
                self.experiment, artifact_location=location, tags=EXPERIMENT_TAGS
            )
        else:
            experiment_id = experiment.experiment_id
            for key, value in EXPERIMENT_TAGS.items():
                if experiment.tags.get(key) != value:  # an experiment made by an earlier version
                    mlflow.MlflowClient(self.tracking_uri).set_experiment_tag(experiment_id, key, value)
        mlflow.set_experiment(experiment_id=experiment_id)
        return experiment_id

    def _artifacts_beside_store(self) -> str | None:
        if self.tracking_uri.startswith("sqlite:///"):
            db = Path(self.tracking_uri.removeprefix("sqlite:///"))
            db.parent.mkdir(parents=True, exist_ok=True)
            return (db.parent / "artifacts").resolve().as_uri()
        return None

    @contextmanager
    def run(self, asset_key: str, dagster_run_id: str) -> Iterator[object]:
        """The MLflow run of one asset in one Dagster run, resumed if it already exists."""
        import mlflow

        experiment_id = self._connect()
        name = f"{asset_key.replace('/', '.')}-{dagster_run_id[:8]}"
        found = mlflow.search_runs(
            experiment_ids=[experiment_id],
            filter_string=(
                f"tags.`{DAGSTER_RUN_TAG}` = '{dagster_run_id}' "
                f"and tags.`{DAGSTER_ASSET_TAG}` = '{asset_key}'"
            ),
            output_format="list",
        )
        run_id = found[0].info.run_id if found else None
        with mlflow.start_run(
            run_id=run_id,
            run_name=None if run_id else name,
            tags={DAGSTER_RUN_TAG: dagster_run_id, DAGSTER_ASSET_TAG: asset_key},
        ) as active:
            yield active

    @contextmanager
    def resume(self, run_id: str) -> Iterator[object]:
        """An existing MLflow run, reopened to add to it (evaluation of a trained version)."""
        import mlflow

        self._connect()
        with mlflow.start_run(run_id=run_id) as active:
            yield active

    def run_url(self, experiment_id: str, run_id: str) -> str:
        """The run's page in the MLflow UI: the tracking server's, or `wallet-pipeline mlflow-ui`'s."""
        base = _safe_base(self.tracking_uri) if self.tracking_uri.startswith("http") else LOCAL_UI
        # MLflow 3.17's UI ignores the experiment's kind tag for its GenAI / Model training switch
        # (default GenAI, then the last choice) but honours this parameter.
        return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"

    def champion_version(self, model_name: str) -> str | None:
        """The registry version that holds the champion alias, or None before any promotion."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        self._connect()
        try:
            return str(
                MlflowClient(self.tracking_uri).get_model_version_by_alias(model_name, CHAMPION).version
            )
        except MlflowException:
            return None

    def promote(self, model_name: str, version: str) -> None:
        """Move the champion alias to `version`."""
        from mlflow import MlflowClient

        self._connect()
        MlflowClient(self.tracking_uri).set_registered_model_alias(model_name, CHAMPION, version)
