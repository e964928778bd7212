#!/bin/sh
# Installs what the integration tests need beyond Rust: a real Dovecot POP3 server
# (used privately by pop3-testkit on loopback; the system service is left stopped).
#
# Debian 12 (and derivatives), run as root. Idempotent: returns quickly when
# everything is already there.
set -eu

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

# Stops the system-wide Dovecot (not the private pop3-testkit instances, which use
# their own base_dir under the temp directory).
stop_system_dovecot() {
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl stop dovecot.socket dovecot.service >/dev/null 2>&1 || true
    fi
    pidfile=/run/dovecot/master.pid
    if [ -f "$pidfile" ]; then
        pid=$(cat "$pidfile" 2>/dev/null || true)
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
            [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = dovecot ]; then
            log "stopping the system Dovecot service (pid $pid)"
            if [ -x /etc/init.d/dovecot ]; then
                /etc/init.d/dovecot stop >/dev/null 2>&1 || true
            fi
            if kill -0 "$pid" 2>/dev/null; then
                kill "$pid" 2>/dev/null || true
            fi
            i=0
            while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do
                sleep 0.1
                i=$((i + 1))
            done
        fi
    fi
}

installed() {
    dovecot --version >/dev/null 2>&1 &&
        [ -x /usr/lib/dovecot/pop3 ] && [ -x /usr/lib/dovecot/pop3-login ] &&
        command -v openssl >/dev/null 2>&1
}

PATH="$PATH:/usr/sbin:/sbin"
export PATH

# POP3_TESTKIT_FORCE_INSTALL=1 skips the quick check (to repair a broken install).
if [ -z "${POP3_TESTKIT_FORCE_INSTALL:-}" ] && installed; then
    log "Dovecot $(dovecot --version) with POP3 is already installed"
    stop_system_dovecot
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root to install packages (try: sudo $0)"
    exit 1
fi

# Keep the package's postinst from starting the system service on port 110.
policy=/usr/sbin/policy-rc.d
created_policy=
cleanup() {
    if [ -n "$created_policy" ]; then
        rm -f "$policy"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
apt-get update -q
log "installing dovecot-core dovecot-pop3d openssl"
apt-get install -y -q --no-install-recommends dovecot-core dovecot-pop3d openssl

stop_system_dovecot
if ! installed; then
    log "Dovecot is still missing after apt-get install"
    exit 1
fi
log "installed Dovecot $(dovecot --version)"
