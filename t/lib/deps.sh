# The Debian 12 packages needed to build inboxd, run its tests and the
# demo. Source it and call install_deps; it does nothing unless run as
# root, and nothing when INBOXD_NO_APT=1. Cyrus IMAP and Courier-IMAP,
# which conflict with dovecot-imapd, are not here: their tests download
# and unpack them (t/lib/cyrus.sh, t/lib/courier.sh). What those need
# installed is: the SASL PLAIN/LOGIN and sasldb plugins, and openssl.

INBOXD_DEPS="
	build-essential autoconf automake libtool pkg-config
	libevent-dev libpq-dev libgmime-3.0-dev libglib2.0-dev
	libcurl4-openssl-dev libjansson-dev libssl-dev
	postgresql-15 postgresql-client-15 dovecot-imapd
	libsasl2-modules libsasl2-modules-db openssl
	python3 python3-psycopg
	valgrind clang clang-format libclang-rt-14-dev
	curl procps util-linux time
	prometheus
	debhelper devscripts lintian
"

install_deps()
{
	if [ "${INBOXD_NO_APT:-}" = 1 ]; then
		echo "install_deps: INBOXD_NO_APT=1, not installing packages"
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "install_deps: not root, not installing packages"
		return 0
	fi
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get update -q &&
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends $INBOXD_DEPS
}
