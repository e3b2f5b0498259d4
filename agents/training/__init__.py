"""Train a random forest (or one decision tree) on feature recordings and export it as JSON.

Command line (``scripts/export_rf.py`` and ``marketenv train`` both call :func:`main`)::

    export_rf.py RECORDING [RECORDING ...] --out model.json
        [--label action|forward] [--horizon H] [--dead-zone BPS]
        [--agents REGEX] [--features all|NAME,NAME,...] [--exclude-agent-state]
        [--split time|file] [--test-fraction F]
        [--model forest|tree] [--n-estimators N] [--max-depth D] [--min-samples-leaf N]
        [--seed S]

Labels:

* ``action`` (default): behaviour cloning; the label is the recorded ``action`` (-1/0/1).
* ``forward``: the sign of the mid-price move over the next ``H`` ticks of the same
  (agent, symbol) series: ``f_mid_price`` of the row exactly ``H`` ticks later (same file,
  ``agent_id`` and ``symbol``) against this row's. Moves smaller than ``--dead-zone`` basis
  points are labelled 0. Rows without a row ``H`` ticks later are dropped (the end of the
  run, and every row when ``H`` is not a multiple of the recording interval).

Splits never shuffle rows:

* ``time`` (default): in each file, the rows at the last ``--test-fraction`` of its
  recorded ticks are the test set; training rows end at least ``H`` ticks (the label
  horizon; 0 for ``action``) before the first test tick, so no training label looks into
  the test period. Rows in that gap are dropped.
* ``file``: the last ``max(1, round(n_files * test_fraction))`` files (in command-line
  order) are the test set; needs at least two files.

Missing values: rows with NaN features (the warm-up of the rolling indicators) are kept;
scikit-learn learns where NaN goes at each split and the exported model does the same
(see :mod:`agents.models`). Infinite feature values are an error.

The model takes the market's feature vector :data:`~marketenv.feature_spec.FEATURE_NAMES`
whenever every training feature is one of those names (unused inputs are ignored), so an
agent can feed its full observation whatever subset was trained on; otherwise it takes the
training features in order. The JSON's ``training`` object records what was done: rows,
label, split, scores, the majority-class baseline, feature importances and every source
file with its ``marketenv.*`` metadata.

Bad input (missing file, not a recording, no rows after filtering, a single class, bad
flag values) prints one line on stderr and returns exit status 2.

From Python, build a :class:`TrainOptions` (validated when built) and call :func:`train`;
its errors name the parameters (between backticks), not the flags. Modules:
:mod:`~agents.training.options`, :mod:`~agents.training.data` (reading, labelling and
splitting the rows), :mod:`~agents.training.fit` (fitting, export, scores),
:mod:`~agents.training.pipeline` (:func:`train`) and :mod:`~agents.training.cli` (the flags).
"""

from __future__ import annotations

from agents.training.cli import build_parser, main
from agents.training.options import TrainOptions
from agents.training.pipeline import train
from marketenv.errors import TrainingError
from marketenv.feature_spec import AGENT_STATE_FEATURES

__all__ = ["AGENT_STATE_FEATURES", "TrainOptions", "TrainingError", "build_parser", "main", "train"]
