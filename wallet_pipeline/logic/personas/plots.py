"""Pictures of a persona model, as PNG bytes: a 2-D projection of wallets and a radar of profiles.

`projection_png` scatters a seeded sample of modelled wallets, projected to 2-D from the model's own
preprocessed space, coloured by persona. `radar_png` draws one polygon per modelled persona over the
model's feature columns, each axis the population percentile of the persona's median. Both draw on a
`matplotlib.figure.Figure` rendered by the Agg canvas, never through pyplot: no global figure state,
no display, so they can run in any thread of a Dagster worker. A persona keeps its colour in both
pictures (`persona_colors`).
"""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from wallet_pipeline.logic.personas.model import PersonaModel

PROJECTION_METHODS = ("tsne", "pca")
# t-SNE settings. Barnes-Hut costs 20-60 ms per iteration at 3,000 points on the 2-core workers, so
# the run stops after 500 iterations (250 of them early exaggeration) with a coarser angle (0.8
# instead of 0.5): 2-3x faster than sklearn's defaults (10-28 s instead of 30-47 s), and on the real
# mart a 10-nearest-neighbour vote in 2-D still recovers the persona of 99-100% of the wallets, with
# the same trustworthiness (0.986) as the defaults. 350 iterations take ~8 s but stop mid-descent.
TSNE_PERPLEXITY = 30.0
TSNE_MAX_ITER = 500
TSNE_ANGLE = 0.8
# One thread, for the neighbour search and, through threadpool_limits, the OpenMP loop of the
# Barnes-Hut gradient: with two threads on the shared 2-core machine the 3,000-wallet projection of
# the default world took 16.4 CPU s (48 s wall) against 3.5 CPU s on one, the threads spinning while
# they wait for each other (benchmarks/persona_training.py, "asset_steps").
TSNE_JOBS = 1
DPI = 110
# About 800 pixels wide with the legend below: the Dagster UI shows the picture inline in its
# metadata column (about 820 pixels in a 1,500-pixel window) and cuts what is wider.
FIGSIZE = (7.0, 6.5)
LEGEND_COLUMNS = 3


def persona_colors(personas: list[str] | tuple[str, ...]) -> dict[str, tuple[float, float, float, float]]:
    """A colour per persona: tab10 up to 10 personas, tab20 above, cycled past 20.

    Args:
        personas: Persona names; colours follow their sorted order, so a model's pictures agree.

    Returns:
        RGBA colour per name.
    """
    names = sorted(set(personas))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # "tight" grows the saved area to the legend and labels outside the axes, so nothing is cut off.
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.2)
    return buf.getvalue()


def _embed(z: np.ndarray, method: str, seed: int) -> np.ndarray:
    n, d = z.shape
    if n < 2:
        return np.zeros((n, 2))
    if method == "tsne" and n > 3:
        tsne = TSNE(
            n_components=2,
            # sklearn requires perplexity < n; a third of the sample keeps small samples meaningful.
            perplexity=min(TSNE_PERPLEXITY, (n - 1) / 3),
            init="pca" if d >= 2 else "random",
            max_iter=TSNE_MAX_ITER,
            angle=TSNE_ANGLE,
            random_state=seed,
            n_jobs=TSNE_JOBS,
        )
        with threadpool_limits(limits=TSNE_JOBS):
            return tsne.fit_transform(z)
    # PCA, also the fallback for samples too small for t-SNE; a one-column space gets y = 0.
    k = min(2, n, d)
    xy = PCA(n_components=k, random_state=seed).fit_transform(z)
    return np.column_stack([xy, np.zeros((n, 2 - k))])


def projection_frame(
    model: PersonaModel,
    features: pd.DataFrame,
    *,
    sample_size: int = 3000,
    seed: int = 0,
    method: str = "tsne",
) -> pd.DataFrame:
    """2-D coordinates of a seeded sample of the modelled wallets, with their persona.

    Wallets named by rule (contracts, never-sent wallets; `assign_clusters` gives them -1) are not in
    the model's space and are left out. The sample is uniform over the modelled wallets, so persona
    shares in the picture are the population's and the cost does not grow with the table: only the
    sample is scored and projected. Rows are transformed by the model's fitted preprocessing pipeline
    (NULLs filled and flagged there), then projected by t-SNE (perplexity 30, PCA init) or PCA.

    Args:
        model: A trained persona model.
        features: Wallets by features, with the columns the model was trained on.
        sample_size: Most wallets to project.
        seed: Seed of the sample and of t-SNE; the same seed gives the same frame.
        method: "tsne" or "pca".

    Returns:
        address, x, y and persona (the name `model.predict` gives), in the table's row order.

    Raises:
        ValueError: `method` is unknown or `sample_size` is below 1.
        PersonaInputError: `features` lack the model's columns.
    """
    if method not in PROJECTION_METHODS:
        raise ValueError(f"unknown projection method {method!r}: one of {PROJECTION_METHODS}")
    if sample_size < 1:
        raise ValueError(f"sample_size must be at least 1, not {sample_size}")
    cfg = model.config
    modelled = np.flatnonzero(cfg.rules(features).isna().to_numpy())
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(modelled, min(sample_size, len(modelled)), replace=False))
    sample = features.iloc[rows]
    personas = model.predict(sample)  # checks the columns, also when the sample is empty
    if len(sample):
        z = np.asarray(model.preprocessor.transform(sample[list(model.feature_columns)]), dtype=float)
        xy = _embed(z, method, seed)
    else:
        xy = np.zeros((0, 2))
    return pd.DataFrame(
        {
            "address": personas["address"].to_numpy(),
            "x": xy[:, 0],
            "y": xy[:, 1],
            "persona": personas["persona"].to_numpy(),
        }
    )


def projection_png(
    model: PersonaModel,
    features: pd.DataFrame,
    *,
    sample_size: int = 3000,
    seed: int = 0,
    method: str = "tsne",
) -> bytes:
    """Scatter of `projection_frame`, coloured by persona, with each persona's count in the legend.

    Args:
        model: A trained persona model.
        features: Wallets by features, with the columns the model was trained on.
        sample_size: Most wallets to project.
        seed: Seed of the sample and of t-SNE.
        method: "tsne" or "pca".

    Returns:
        The picture as PNG bytes.
    """
    frame = projection_frame(model, features, sample_size=sample_size, seed=seed, method=method)
    counts = frame["persona"].value_counts()
    colors = persona_colors(model.cluster_personas)  # any fit of the ensemble may name a wallet
    label = "t-SNE" if method == "tsne" else "PCA"
    fig = Figure(figsize=FIGSIZE)
    ax = fig.add_subplot()
    # Largest persona first, so the rare ones are drawn on top and stay visible.
    for name, n in counts.items():
        pts = frame[frame["persona"] == name]
        ax.scatter(
            pts["x"],
            pts["y"],
            s=6,
            alpha=0.7,
            linewidths=0,
            color=colors.get(name, "0.5"),
            label=f"{name} ({n:,})",
        )
    ax.set_title(f"{label} of {len(frame):,} modelled wallets, coloured by persona")
    ax.set_xlabel(f"{label} 1")
    ax.set_ylabel(f"{label} 2")
    # The axes of a t-SNE have no units: only the neighbourhoods mean something.
    ax.set_xticks([])
    ax.set_yticks([])
    if len(frame) == 0:
        ax.text(0.5, 0.5, "no modelled wallets", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(
            title="Persona (wallets in sample)",
            loc="upper center",
            bbox_to_anchor=(0.5, -0.04),
            markerscale=3,
            frameon=False,
            ncols=LEGEND_COLUMNS,
        )
    return _png(fig)


def radar_frame(model: PersonaModel) -> pd.DataFrame:
    """Population percentile (0-100) of each modelled persona's median, per model feature column.

    The model's profiles hold, per cluster and column, the percentile among the modelled training
    wallets of the cluster's median. Clusters that share a name are one persona: their percentiles
    are combined as a mean weighted by cluster size, an approximation of the percentile of the
    persona's median that needs no training data. A persona none of whose wallets has a value in a
    column (all NULL) gets NaN there.

    Args:
        model: A trained persona model.

    Returns:
        One row per modelled persona (index `persona`, sorted), one column per model feature.
    """
    cols = list(model.feature_columns)
    prof = model.profiles[model.profiles["column"].isin(cols)].copy()
    prof["persona"] = [model.cluster_names[c] for c in prof["cluster"]]
    prof["weight"] = prof["size"].where(prof["percentile"].notna(), 0).astype(float)
    prof["weighted"] = prof["percentile"].fillna(0) * prof["weight"]
    sums = prof.groupby(["persona", "column"])[["weighted", "weight"]].sum()
    pct = (100 * sums["weighted"] / sums["weight"].where(sums["weight"] > 0)).unstack("column")
    personas = sorted(set(model.cluster_names))
    return pct.reindex(index=personas, columns=cols).rename_axis(index="persona", columns=None)


def _wrap(name: str, width: int = 16) -> str:
    """Break a long column name after underscores, so it stays whole and readable on a radar axis."""
    lines = [""]
    for part in re.split(r"(?<=_)", name):
        if lines[-1] and len(lines[-1]) + len(part) > width:
            lines.append("")
        lines[-1] += part
    return "\n".join(lines)


def _persona_sizes(model: PersonaModel) -> pd.Series:
    sizes = model.profiles.drop_duplicates("cluster").set_index("cluster")["size"]
    return sizes.groupby([model.cluster_names[c] for c in sizes.index]).sum()


def radar_png(model: PersonaModel) -> bytes:
    """Radar chart of `radar_frame`: one polygon per modelled persona, one axis per feature.

    A NaN percentile (no wallet of the persona has a value) is drawn at the centre.

    Args:
        model: A trained persona model.

    Returns:
        The picture as PNG bytes.
    """
    frame = radar_frame(model)
    sizes = _persona_sizes(model)
    colors = persona_colors(model.cluster_names)
    cols = list(frame.columns)
    angles = np.linspace(0, 2 * np.pi, len(cols), endpoint=False)
    closed = np.append(angles, angles[:1])
    fig = Figure(figsize=FIGSIZE)
    ax = fig.add_subplot(projection="polar")
    ax.set_theta_offset(np.pi / 2)
    ax.set_theta_direction(-1)
    for name, row in frame.iterrows():
        values = np.nan_to_num(row.to_numpy(dtype=float), nan=0.0)
        values = np.append(values, values[:1])
        color = colors[name]
        ax.plot(closed, values, color=color, linewidth=1.8)
        ax.fill(closed, values, color=color, alpha=0.08)
    ax.set_ylim(0, 100)
    ax.set_yticks([25, 50, 75, 100])
    ax.set_yticklabels(["25", "50", "75", "100"], fontsize=8, color="0.4")
    ax.set_rlabel_position(180 / max(len(cols), 1))
    ax.set_xticks(angles)
    ax.set_xticklabels([_wrap(c) for c in cols], fontsize=9)
    ax.tick_params(axis="x", pad=10)
    # Labels grow away from the circle: left-aligned on the right half, right-aligned on the left half.
    for label, angle in zip(ax.get_xticklabels(), angles, strict=True):
        side = np.sin(angle)
        label.set_horizontalalignment("left" if side > 0.1 else "right" if side < -0.1 else "center")
    # A figure title above room left for the axis labels: an axes title collides with the top label.
    fig.subplots_adjust(top=0.82, bottom=0.1)
    fig.suptitle("Persona profiles: population percentile of each persona's median", y=0.97, fontsize=12)
    fig.text(
        0.5,
        0.01,
        "0-100: percentile of the persona's median among the modelled wallets; clusters sharing a name"
        " are combined (size-weighted)",
        ha="center",
        fontsize=8,
        color="0.35",
    )
    handles = [Line2D([], [], color=colors[name], linewidth=2) for name in frame.index]
    labels = [f"{name} ({int(sizes.get(name, 0)):,})" for name in frame.index]
    ax.legend(
        handles,
        labels,
        title="Persona (training wallets)",
        loc="upper center",
        bbox_to_anchor=(0.5, -0.17),
        frameon=False,
        ncols=LEGEND_COLUMNS,
    )
    return _png(fig)
