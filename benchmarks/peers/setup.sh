#!/usr/bin/env bash
# Build the peers' virtualenvs: MLflow and BentoML, each with scikit-learn, for benchmarks/serving;
# Evidently (with pyarrow, to read the Parquet files) for benchmarks/monitoring/drift_vs_evidently.py.
# Evidently 0.7 imports a pandas helper that pandas 3 removed, so its venv pins pandas 2.
#
# They live under benchmarks/.peers/ (git-ignored) and are NOT inprod dependencies. Each is built
# in its own venv so that their pins cannot disturb inprod's. scikit-learn is pinned to the version
# in inprod's .venv so that every server runs the very same predict_proba.
#
#   bash benchmarks/peers/setup.sh            # all three
#   bash benchmarks/peers/setup.sh mlflow     # one
#
# Override versions with MLFLOW_VERSION / BENTOML_VERSION / EVIDENTLY_VERSION /
# EVIDENTLY_PANDAS_VERSION / SKLEARN_VERSION / PYARROW_VERSION, the interpreter
# with PYTHON. A peer that fails to install leaves benchmarks/.peers/<peer>/FAILED with the reason;
# the benchmarks then skip it and print why.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PEERS="$ROOT/benchmarks/.peers"
PYTHON="${PYTHON:-python3}"
MLFLOW_VERSION="${MLFLOW_VERSION:-3.17.2}"
BENTOML_VERSION="${BENTOML_VERSION:-1.4.40}"
EVIDENTLY_VERSION="${EVIDENTLY_VERSION:-0.7.23}"
EVIDENTLY_PANDAS_VERSION="${EVIDENTLY_PANDAS_VERSION:-2.3.3}"
if [[ -z "${SKLEARN_VERSION:-}" && -x "$ROOT/.venv/bin/python" ]]; then
    SKLEARN_VERSION="$("$ROOT/.venv/bin/python" -c 'import sklearn; print(sklearn.__version__)' 2>/dev/null || true)"
fi
SKLEARN_SPEC="scikit-learn${SKLEARN_VERSION:+==$SKLEARN_VERSION}"
if [[ -z "${PYARROW_VERSION:-}" && -x "$ROOT/.venv/bin/python" ]]; then
    PYARROW_VERSION="$("$ROOT/.venv/bin/python" -c 'import pyarrow; print(pyarrow.__version__)' 2>/dev/null || true)"
fi
PYARROW_SPEC="pyarrow${PYARROW_VERSION:+==$PYARROW_VERSION}"

build() {
    local peer="$1"; shift
    local venv="$PEERS/$peer"
    echo "== $peer: building $venv ($*, $SKLEARN_SPEC)"
    rm -rf "$venv"
    mkdir -p "$PEERS"
    if ! "$PYTHON" -m venv "$venv"; then
        mkdir -p "$venv"; echo "python -m venv failed" >"$venv/FAILED"; return 1
    fi
    "$venv/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
    if ! "$venv/bin/pip" install -q "$@" "$SKLEARN_SPEC" >"$venv/install.log" 2>&1; then
        tail -n 5 "$venv/install.log" >"$venv/FAILED"
        echo "== $peer: install FAILED (see $venv/install.log)"
        return 1
    fi
    "$venv/bin/pip" freeze >"$venv/freeze.txt"
    echo "== $peer: ok ($(grep -iE "^($peer|scikit-learn)==" "$venv/freeze.txt" | tr '\n' ' '))"
}

wanted=("$@")
[[ ${#wanted[@]} -eq 0 ]] && wanted=(mlflow bentoml evidently)
status=0
for peer in "${wanted[@]}"; do
    case "$peer" in
        mlflow) build mlflow "mlflow==$MLFLOW_VERSION" || status=1 ;;
        bentoml) build bentoml "bentoml==$BENTOML_VERSION" || status=1 ;;
        evidently) build evidently "evidently==$EVIDENTLY_VERSION" "pandas==$EVIDENTLY_PANDAS_VERSION" \
                "$PYARROW_SPEC" || status=1 ;;
        *) echo "unknown peer '$peer' (known: mlflow, bentoml, evidently)" >&2; status=2 ;;
    esac
done
exit $status
