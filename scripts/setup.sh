# Shared set-up for scripts/run.sh and scripts/test.sh (sourced, not run).
# Creates .venv at the repo root when missing, installs cnnjax (with extras) when pyproject.toml
# changed since the last install, installs Debian's Fashion-MNIST archives when possible, and builds
# the oneDNN CPU convolutions (Debian's libdnnl-dev) when it can.

PYTHON="${PYTHON:-python3}"

ensure_venv() {  # $1: pip extras, e.g. "test" or ""
  local extras="$1" spec="." stamp
  [ -n "$extras" ] && spec=".[$extras]"
  if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "cnnjax needs Python >= 3.11"' || return 1
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
      rm -rf .venv
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y python3-venv >/dev/null || { apt-get update >/dev/null && apt-get install -y python3-venv >/dev/null; }
      fi
      "$PYTHON" -m venv .venv || { echo "could not create .venv: install python3-venv" >&2; return 1; }
    fi
  fi
  stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-${extras:-base}"
  if [ ! -e "$stamp" ]; then
    echo "installing cnnjax${extras:+ with [$extras]} into .venv ..."
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e "$spec"
    touch "$stamp"
  fi
}

ensure_fashion_mnist_archives() {
  local dir=/usr/share/datasets/fashion-mnist
  [ -e "$dir/train-images-idx3-ubyte.gz" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's dataset-fashion-mnist (offline Fashion-MNIST archives) ..."
    apt-get install -y dataset-fashion-mnist >/dev/null 2>&1 \
      || { apt-get update >/dev/null 2>&1 && apt-get install -y dataset-fashion-mnist >/dev/null 2>&1; } \
      || echo "note: dataset-fashion-mnist unavailable; tfds will try to download Fashion-MNIST" >&2
  else
    echo "note: run as root to install dataset-fashion-mnist, or tfds will try to download Fashion-MNIST" >&2
  fi
}

ensure_onednn() {  # optional: builds cnnjax's native CPU libraries (cnnjax/kernels: oneDNN convolutions, scratch
                   # cache) into ~/.cache/cnnjax ($CNNJAX_CACHE_DIR); without them XLA's convolutions and glibc's
                   # malloc alone are used
  if [ ! -e /usr/include/oneapi/dnnl/dnnl.hpp ] || ! command -v g++ >/dev/null || ! command -v gcc >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing Debian's libdnnl-dev, gcc and g++ (oneDNN convolutions for CPU training) ..."
      apt-get install -y libdnnl-dev gcc g++ >/dev/null 2>&1 \
        || { apt-get update >/dev/null 2>&1 && apt-get install -y libdnnl-dev gcc g++ >/dev/null 2>&1; } \
        || echo "note: libdnnl-dev unavailable; CPU convolutions use XLA's (slower gradients)" >&2
    else
      echo "note: run as root (or apt-get install libdnnl-dev gcc g++) for the faster oneDNN CPU convolutions" >&2
    fi
  fi
  .venv/bin/python -m cnnjax.kernels.build
}
