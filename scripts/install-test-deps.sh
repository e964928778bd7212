#!/bin/sh
# Installs what the integration tests need beyond Rust: the real POP3 servers that
# pop3-testkit runs privately on loopback (Dovecot, GNU Mailutils pop3d, Courier pop3d,
# popa3d, solid-pop3d, perdition, Cyrus pop3d) and socat. No system service is left running.
#
# Debian 12 (and derivatives), run as root. Idempotent: returns quickly when
# everything is already there.
#
# courier-pop, popa3d, solid-pop3d and cyrus-pop3d/cyrus-imapd declare `Conflicts: pop3-server`: installing them
# with apt would remove Dovecot. Their .debs are therefore only downloaded and unpacked
# under $SERVERS_ROOT (never registered with dpkg), and the tests run the binaries
# from there. Everything apt installs is first checked with a simulation that must not
# remove any package.
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

# Where the unpacked servers live; pop3-testkit looks here too (POP3_TESTKIT_SERVERS_ROOT).
SERVERS_ROOT=${POP3_TESTKIT_SERVERS_ROOT:-/opt/pop3-testkit}

# Packages apt installs (none of them conflicts with Dovecot).
APT_PACKAGES="dovecot-core dovecot-pop3d openssl socat adduser mailutils-pop3d perdition
courier-authdaemon courier-authlib-userdb libcourier-unicode4 liblockfile1 cyrus-common sasl2-bin"
# cyrus-common needs a mail transport agent; without one apt would pull in exim4 (a daemon on port 25).
if [ ! -e /usr/sbin/sendmail ]; then
    APT_PACKAGES="$APT_PACKAGES msmtp-mta"
fi

# Packages only unpacked (Debian's current version of each). Each goes to $SERVERS_ROOT/NAME, with the version
# in NAME/.complete; pop3-testkit checks it against the version its server profiles were written for.
UNPACKED="courier-base courier-pop popa3d solid-pop3d cyrus-pop3d cyrus-imapd"

dovecot_installed() {
    dovecot --version >/dev/null 2>&1 &&
        [ -x /usr/lib/dovecot/pop3 ] && [ -x /usr/lib/dovecot/pop3-login ] &&
        command -v openssl >/dev/null 2>&1
}

apt_installed() {
    dovecot_installed &&
        command -v socat >/dev/null 2>&1 &&
        [ -x /usr/sbin/pop3d ] && [ -x /usr/sbin/perdition.pop3 ] &&
        [ -x /usr/sbin/makeuserdb ] && [ -x /usr/lib/courier/courier-authlib/authdaemond ] &&
        [ -x /usr/lib/cyrus/bin/master ] && [ -x /usr/sbin/saslpasswd2 ] &&
        for p in liblockfile1 libcourier-unicode4; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || return 1
        done
}

unpacked_installed() {
    for name in $UNPACKED; do
        [ -s "$SERVERS_ROOT/$name/.complete" ] || return 1
    done
}

# The unprivileged accounts the servers run as: popa3d's and solid-pop3d's (compiled in, made below as
# their postinst scripts would), courier's and cyrus' (made by the installed packages).
accounts_present() {
    getent passwd popa3d >/dev/null && getent passwd spop3d >/dev/null &&
        [ -d /var/lib/popa3d ] && getent passwd courier >/dev/null && getent passwd cyrus >/dev/null
}

installed() {
    apt_installed && unpacked_installed && accounts_present
}

PATH="$PATH:/usr/sbin:/sbin"
export PATH

# POP3_TESTKIT_FORCE_INSTALL=1 skips the quick check (to repair a broken install).
if [ -z "${POP3_TESTKIT_FORCE_INSTALL:-}" ] && installed; then
    log "Dovecot $(dovecot --version), Mailutils, Courier, popa3d, solid-pop3d, perdition and Cyrus are already installed"
    stop_system_dovecot
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root to install packages (try: sudo $0)"
    exit 1
fi

# Keep the packages' postinst scripts from starting system services on port 110.
policy=/usr/sbin/policy-rc.d
created_policy=
download_dir=
cleanup() {
    if [ -n "$created_policy" ]; then
        rm -f "$policy"
    fi
    if [ -n "$download_dir" ]; then
        rm -rf "$download_dir"
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

if ! apt_installed || [ -n "${POP3_TESTKIT_FORCE_INSTALL:-}" ]; then
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    removals=$(apt-get install -s -y -q --no-install-recommends $APT_PACKAGES | grep '^Remv' || true)
    if [ -n "$removals" ]; then
        log "refusing to install: apt would remove packages:"
        printf '%s\n' "$removals" >&2
        exit 1
    fi
    log "installing $(echo $APT_PACKAGES)"
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $APT_PACKAGES </dev/null
fi

if ! unpacked_installed || [ -n "${POP3_TESTKIT_FORCE_INSTALL:-}" ]; then
    download_dir=$(mktemp -d)
    # apt-get download runs as the _apt user, which must be able to write there.
    chmod 777 "$download_dir"
    for name in $UNPACKED; do
        target="$SERVERS_ROOT/$name"
        [ -s "$target/.complete" ] && [ -z "${POP3_TESTKIT_FORCE_INSTALL:-}" ] && continue
        log "unpacking $name (not registered with dpkg: it conflicts with Dovecot) into $target"
        (cd "$download_dir" && apt-get download -q "$name" </dev/null)
        deb=$(ls "$download_dir/${name}_"*.deb)
        rm -rf "$target"
        mkdir -p "$target"
        dpkg-deb -x "$deb" "$target"
        dpkg-deb -f "$deb" Version >"$target/.complete"
    done
fi

if ! getent group popa3d >/dev/null; then
    addgroup --system popa3d >/dev/null
fi
if ! getent passwd popa3d >/dev/null; then
    adduser --system --home /var/lib/popa3d --no-create-home --ingroup popa3d popa3d >/dev/null
fi
# popa3d chroots into this empty directory before authentication.
mkdir -p /var/lib/popa3d
chown root:root /var/lib/popa3d
chmod 755 /var/lib/popa3d
if ! getent passwd spop3d >/dev/null; then
    adduser --system --home /var/lib/solid-pop3d --no-create-home --ingroup mail spop3d >/dev/null
fi

# The packages' services stay stopped, now and after a reboot: the tests start private instances.
# (Removing the enablement link is what `systemctl disable` does; it works without a running systemd.)
for unit in cyrus-imapd mailutils-pop3d courier-authdaemon perdition; do
    rm -f "/etc/systemd/system/multi-user.target.wants/$unit.service"
done
stop_system_dovecot
if ! installed; then
    log "some test servers are still missing after the installation"
    exit 1
fi
log "installed Dovecot $(dovecot --version), Mailutils, Courier, popa3d, solid-pop3d, perdition, Cyrus"
