#!/usr/bin/env bash
# Installs everything smtpwall's build, tests and demo need on a fresh Debian 12
# machine. Idempotent: packages already present are left alone, Sendmail is only
# unpacked once. Needs root (apt). Never touches /etc/postfix beyond the Debian
# package's own "No configuration" install.
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake pkg-config clang-format
  libmilter-dev libldns-dev libspf2-dev libpcre2-dev
  libboost-dev libboost-test-dev libboost-system-dev
  libip4tc-dev libip6tc-dev libiptc-dev libxtables-dev libipset-dev libnftables-dev
  libsqlite3-dev libtomlplusplus-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  libhiredis-dev libcap-dev
)
TEST_PACKAGES=(
  postfix swaks libio-socket-inet6-perl miltertest nsd python3 dnsdist ldnsutils bind9-dnsutils
  iptables ipset nftables iproute2 socat procps util-linux sqlite3 clang
  # The cluster tests (Redis on their own sockets and ports, never the system service).
  redis-server redis-sentinel
  # test/bench/mta_bench.sh's reference milter (verify-only, configured by the bench).
  opendkim
  # Debian packaging and its test (packaging/): dpkg-buildpackage, dh, lintian,
  # systemd-analyze and a systemd to boot in the test's sandbox, groff for man pages.
  dpkg-dev debhelper fakeroot lintian systemd groff-base
)

missing=()
for p in "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || { echo "setup: need root to install: ${missing[*]}" >&2; exit 1; }
  # Postfix must not ask questions nor configure the machine's own mail system.
  echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Packaged daemons must not run on their own: the tests start private instances.
for svc in nsd dnsdist postfix redis-server redis-sentinel opendkim; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

# Sendmail conflicts with Postfix in apt, so it is unpacked into a private root.
SENDMAIL_ROOT=${SMTPWALL_SENDMAIL_ROOT:-/opt/smtpwall-sendmail}
if [ ! -x "$SENDMAIL_ROOT/root/usr/libexec/sendmail/sendmail" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && chmod 755 . && apt-get download -qq sendmail-bin sendmail-cf m4 libwrap0)
  mkdir -p "$SENDMAIL_ROOT/root"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$SENDMAIL_ROOT/root"; done
fi
# setgid makes ld.so ignore LD_LIBRARY_PATH, which the unpacked binary needs
chmod g-s "$SENDMAIL_ROOT/root/usr/libexec/sendmail/sendmail"

# The unprivileged user the milter runs as (the Debian package creates it too).
if ! id smtpwall >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/smtpwall --no-create-home --shell /usr/sbin/nologin smtpwall
fi
# The user the firewall helper serves as after start-up (the Debian package creates it too).
if ! id smtpwall-helper >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/smtpwall-helper --no-create-home \
    --shell /usr/sbin/nologin smtpwall-helper
fi
echo "setup: packages present, Sendmail unpacked in $SENDMAIL_ROOT/root, users smtpwall and smtpwall-helper exist"
