# Shared by scripts/demo and scripts/test (sourced, not run).
# Installs missing build dependencies on Debian/Ubuntu, then configures and
# builds winnow out of tree in $WN_BUILD_DIR (default: _build).

WN_SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WN_BUILD_DIR=${WN_BUILD_DIR:-$WN_SRC_DIR/_build}
WN_JOBS=${WN_JOBS:-$(nproc 2>/dev/null || echo 2)}

# Debian packages winnow builds with (CUDA and NCCL are optional and not Debian packages).
WN_DEB_PACKAGES="gcc g++ make autoconf automake libtool autoconf-archive pkg-config \
libltdl-dev libjansson-dev libcunit1-dev libzstd-dev libucx-dev ucx-utils"

wn_say() { printf '==> %s\n' "$*"; }

wn_install_dependencies() {
    local missing=() pkg
    if ! command -v dpkg-query >/dev/null 2>&1; then
        wn_say "not a Debian-like system: make sure these are installed: $WN_DEB_PACKAGES"
        return 0
    fi
    for pkg in $WN_DEB_PACKAGES; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=sudo
        else
            echo "error: missing packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
            return 1
        fi
    fi
    wn_say "installing build dependencies: ${missing[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# wn_build [configure args...]: autoreconf when needed, configure once, make.
wn_build() {
    if [ ! -x "$WN_SRC_DIR/configure" ] || [ "$WN_SRC_DIR/configure.ac" -nt "$WN_SRC_DIR/configure" ]; then
        wn_say "autoreconf"
        (cd "$WN_SRC_DIR" && autoreconf -fi) >/dev/null
    fi
    mkdir -p "$WN_BUILD_DIR"
    if [ ! -f "$WN_BUILD_DIR/Makefile" ]; then
        wn_say "configure in $WN_BUILD_DIR"
        (cd "$WN_BUILD_DIR" && "$WN_SRC_DIR/configure" "$@") | sed -n '/will be built with/,$p'
    fi
    wn_say "make (-j$WN_JOBS)"
    make -C "$WN_BUILD_DIR" -j"$WN_JOBS" >/dev/null
}

# Plugin directories of a build tree (each plugin's .libs), for WINNOW_PLUGIN_PATH.
wn_build_plugin_path() {
    find "$1/plugins" -type d -name .libs | sort | paste -sd: -
}
