"""The MLflow pyfunc flavour of the persona model, logged as code ("models from code").

MLflow loads this file, and the wrapper loads the pickled `PersonaModel` artifact, so any MLflow
client (`mlflow.pyfunc.load_model`, `mlflow models serve`) scores a features table the same way the
pipeline does. It needs `wallet_pipeline` importable, as the pickle refers to its classes.
"""

from __future__ import annotations

import pickle

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from wallet_pipeline.lib.persona_registry import MODEL_ARTIFACT


class PersonaPyfunc(PythonModel):
    """Scores a wallets-by-features table: address, persona, confidence, p_<persona>..."""

    model = None

    def load_context(self, context) -> None:  # noqa: ANN001 - mlflow's PythonModelContext
        with open(context.artifacts[MODEL_ARTIFACT], "rb") as f:
            self.model = pickle.load(f)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ANN001
        return self.model.predict(pd.DataFrame(model_input))


mlflow.models.set_model(PersonaPyfunc())
