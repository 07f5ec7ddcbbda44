# shellcheck shell=bash
# Shared by scripts/dev and scripts/test; source it after setting SCRIPT_NAME.
#
# The one hard part is finding a PostgreSQL: use the server DATABASE_URL
# names if it answers, otherwise run a private cluster from the system's
# binaries under .data/postgres (installing PostgreSQL with the OS package
# manager if it is missing). Everything this file creates lives under .data/,
# which git ignores.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA="$REPO/.data"
SUBSD="$DATA/bin/subsd"

# The private cluster: superuser $PG_SUPERUSER, trust authentication,
# listening on 127.0.0.1 only, on the first free port from $PG_FIRST_PORT.
PG_DIR="$DATA/postgres"
PG_FIRST_PORT=54329
PG_SUPERUSER=postgres
# The server refuses to run as root; as root it runs as this system user.
PG_OS_USER=postgres

log() { printf '%s: %s\n' "${SCRIPT_NAME:-scripts}" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# redact hides the password of a postgres:// URL.
redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:xxxxx@#' <<<"$1"; }

# build_subsd compiles the binary the scripts use (dbcheck) and dev runs.
build_subsd() {
	command -v go >/dev/null || die "Go is not on PATH; install the version go.mod names from https://go.dev/dl/"
	mkdir -p "$DATA/bin"
	(cd "$REPO" && go build -o "$SUBSD" ./cmd/subsd)
}

# database_url NAME [BASE_URL] sets DB_URL to the URL of database NAME
# (BASE_URL's own database if NAME is empty), creating it if missing, on the
# server of BASE_URL (default: $DATABASE_URL, else subsd's default) if that
# server answers and lets us in; otherwise to database NAME (or
# $PRIVATE_NAME, or subsd) on the private cluster, started as needed.
# "Answers" is `subsd dbcheck`: a login and a query, which proves more than
# pg_isready's "accepting connections" (credentials, database) and needs no
# PostgreSQL client tools. Call it directly, not in $(...): it sets variables
# (DB_URL, PG_PORT, PG_STARTED) and may exit.
database_url() {
	local name=$1 base=${2:-${DATABASE_URL:-postgres://localhost:5432/subsd}}
	local private=${name:-${PRIVATE_NAME:-subsd}}
	local args=(dbcheck --create)
	[ -n "$name" ] && args+=(--database="$name")
	PG_STARTED=0
	if DB_URL=$(DATABASE_URL=$base "$SUBSD" "${args[@]}" 2>"$DATA/dbcheck.log"); then
		log "using PostgreSQL at $(redact "$DB_URL")"
		return
	fi
	log "PostgreSQL at $(redact "$base") does not answer: $(tr -s '\n\t' '  ' <"$DATA/dbcheck.log")"
	start_private_cluster
	DB_URL=$(DATABASE_URL="postgres://$PG_SUPERUSER@127.0.0.1:$PG_PORT/postgres" \
		"$SUBSD" dbcheck --create --database="$private") ||
		die "the private cluster answers on port $PG_PORT but database $private could not be created"
	log "using PostgreSQL at $DB_URL"
}

# pg_run runs a PostgreSQL server program (initdb, pg_ctl): as $PG_OS_USER
# when we are root, as ourselves otherwise. As $PG_OS_USER it runs from /,
# since the current directory may be one that user cannot enter.
pg_run() {
	if ! is_root; then
		"$@"
	elif command -v runuser >/dev/null; then
		(cd / && runuser -u "$PG_OS_USER" -- "$@")
	else
		(cd / && su -s /bin/bash "$PG_OS_USER" -c "$(printf '%q ' "$@")")
	fi
}

# find_pg_bin prints the directory holding initdb, pg_ctl and postgres,
# preferring major version $1 (the version a data directory was made with).
find_pg_bin() {
	local want=${1:-} dir candidates=()
	[ -n "$want" ] && candidates+=("/usr/lib/postgresql/$want/bin" "/usr/pgsql-$want/bin")
	if command -v initdb >/dev/null; then
		candidates+=("$(dirname "$(readlink -f "$(command -v initdb)")")")
	fi
	if command -v pg_config >/dev/null; then
		candidates+=("$(pg_config --bindir)")
	fi
	# Debian/Ubuntu, RHEL (PGDG), Homebrew: newest version first.
	while IFS= read -r dir; do
		candidates+=("$dir")
	done < <(printf '%s\n' /usr/lib/postgresql/*/bin /usr/pgsql-*/bin /opt/homebrew/opt/postgresql@*/bin /usr/local/opt/postgresql@*/bin | sort -rV)
	for dir in "${candidates[@]}"; do
		if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
			printf '%s\n' "$dir"
			return 0
		fi
	done
	return 1
}

# os_install WHAT ADVICE APT DNF APK BREW... installs WHAT with the OS
# package manager, through sudo when we are not root: package APT with
# apt-get, DNF with dnf, APK with apk, or BREW... (arguments to brew install,
# --cask NAME say) with Homebrew. ADVICE ends the error when it cannot.
os_install() {
	local what=$1 advice=$2 apt=$3 dnf=$4 apk=$5 sudo=""
	shift 5
	if ! is_root && ! command -v brew >/dev/null; then
		command -v sudo >/dev/null ||
			die "$what is not installed, and installing it needs root or sudo. $advice"
		sudo=sudo
	fi
	if command -v apt-get >/dev/null; then
		log "installing $what with apt-get"
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$apt"
	elif command -v dnf >/dev/null; then
		log "installing $what with dnf"
		$sudo dnf install -y "$dnf"
	elif command -v apk >/dev/null; then
		log "installing $what with apk"
		$sudo apk add --no-cache "$apk"
	elif command -v brew >/dev/null; then
		log "installing $what with Homebrew"
		brew install "$@"
	else
		die "$what is not installed and no package manager I know (apt-get, dnf, apk, brew) is. $advice"
	fi
}

# install_postgres installs the PostgreSQL server with the OS package
# manager, through sudo when we are not root.
install_postgres() {
	os_install PostgreSQL "Install the PostgreSQL server (initdb, pg_ctl), or set DATABASE_URL to a server that answers." \
		postgresql postgresql-server postgresql postgresql@17
}

# prepare_pg_root sets PG_ROOT, the real directory of the private cluster
# (.data/postgres), and makes it writable by the user the server runs as.
# As root, when $PG_OS_USER cannot reach into the repository (a clone under
# /root, say), the cluster lives in /var/tmp and .data/postgres links to it.
prepare_pg_root() {
	mkdir -p "$DATA"
	if ! is_root; then
		mkdir -p "$PG_DIR"
		PG_ROOT=$PG_DIR
		return
	fi
	if ! id "$PG_OS_USER" >/dev/null 2>&1; then
		log "creating system user $PG_OS_USER to run PostgreSQL (it refuses to run as root)"
		useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$PG_OS_USER"
	fi
	if [ -L "$PG_DIR" ]; then
		PG_ROOT=$(readlink -f "$PG_DIR")
		return
	fi
	mkdir -p "$PG_DIR"
	chown "$PG_OS_USER:" "$PG_DIR"
	if pg_run test -w "$PG_DIR"; then
		PG_ROOT=$PG_DIR
		return
	fi
	log "$PG_OS_USER cannot reach $PG_DIR; keeping the cluster in /var/tmp, linked from .data/postgres"
	rmdir "$PG_DIR"
	PG_ROOT=$(mktemp -d /var/tmp/subsd-postgres.XXXXXX)
	chown "$PG_OS_USER:" "$PG_ROOT"
	ln -s "$PG_ROOT" "$PG_DIR"
}

# free_port prints the first port from $1 on which nothing listens.
free_port() {
	local port
	for ((port = $1; port < $1 + 100; port++)); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			printf '%s\n' "$port"
			return
		fi
	done
	die "no free port in $1-$(($1 + 99))"
}

# start_private_cluster starts the cluster under .data/postgres, creating it
# first if needed, and sets PG_PORT. A cluster that is already running is
# reused. PG_STARTED is set to 1 only when this call started it.
start_private_cluster() {
	PG_STARTED=0
	prepare_pg_root
	local pgdata="$PG_ROOT/data" version="" bin
	[ -f "$pgdata/PG_VERSION" ] && version=$(<"$pgdata/PG_VERSION")
	if ! bin=$(find_pg_bin "$version"); then
		install_postgres
		bin=$(find_pg_bin "$version") || die "PostgreSQL was installed but initdb/pg_ctl/postgres are still not found"
	fi
	PG_CTL=("$bin/pg_ctl" -D "$pgdata")

	if pg_run "${PG_CTL[@]}" status >/dev/null 2>&1; then
		PG_PORT=$(sed -n 4p "$pgdata/postmaster.pid")
		log "private cluster already running on 127.0.0.1:$PG_PORT"
		return
	fi

	if [ -z "$version" ]; then
		log "creating a private cluster in $pgdata with $bin/initdb"
		pg_run "$bin/initdb" -D "$pgdata" -U "$PG_SUPERUSER" --auth=trust --no-locale -E UTF8 >"$PG_ROOT/initdb.log" 2>&1 ||
			die "initdb failed; see $PG_ROOT/initdb.log"
		pg_run tee -a "$pgdata/postgresql.conf" >/dev/null <<-'EOF'

			# Added by scripts/lib.sh: a private development cluster. The port
			# and socket directory are given by pg_ctl -o at each start.
			listen_addresses = '127.0.0.1'
			max_connections = 200
		EOF
	fi

	PG_PORT=$(free_port "$PG_FIRST_PORT")
	# The socket goes inside .data (the default, /var/run/postgresql, is not
	# ours to write); past the kernel's ~107-byte limit on socket paths, TCP
	# alone is used.
	local sockdir="$PG_ROOT"
	[ "${#sockdir}" -gt 90 ] && sockdir=""
	log "starting the private cluster on 127.0.0.1:$PG_PORT"
	pg_run "${PG_CTL[@]}" start -w -t 60 -l "$PG_ROOT/server.log" -o "-p $PG_PORT -k '$sockdir'" >/dev/null || {
		tail -n 20 "$PG_ROOT/server.log" >&2 || true
		die "the private cluster did not start; see $PG_ROOT/server.log"
	}
	PG_STARTED=1
}

# stop_private_cluster stops the cluster start_private_cluster started.
stop_private_cluster() {
	log "stopping the private cluster"
	pg_run "${PG_CTL[@]}" stop -m fast >/dev/null
}

# pg_stop_hint prints how to stop the private cluster by hand.
pg_stop_hint() {
	local cmd
	cmd=$(printf '%q ' "${PG_CTL[@]}" stop)
	if is_root; then
		printf 'runuser -u %s -- %s\n' "$PG_OS_USER" "$cmd"
	else
		printf '%s\n' "$cmd"
	fi
}

# install_stripe_mock installs stripe-mock into .data/bin (once per
# version: go install is skipped when that version is there) and exports
# STRIPE_MOCK_BIN, where the tests' stripetest package starts it from. The
# version must match workers/stripe/stripetest.Version.
STRIPE_MOCK_VERSION=v0.203.0
install_stripe_mock() {
	local bin="$DATA/bin/stripe-mock" stamp="$DATA/bin/stripe-mock.version"
	if [ ! -x "$bin" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$STRIPE_MOCK_VERSION" ]; then
		log "installing stripe-mock $STRIPE_MOCK_VERSION into .data/bin"
		mkdir -p "$DATA/bin"
		GOBIN="$DATA/bin" go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION"
		printf '%s\n' "$STRIPE_MOCK_VERSION" >"$stamp"
	fi
	export STRIPE_MOCK_BIN="$bin"
}

# find_chromium prints the path of a Chromium (or Chrome) to drive headless:
# $CHROMIUM_PATH if it is one, else the first of the usual names on PATH,
# else the macOS application.
CHROMIUM_NAMES=(chromium chromium-browser google-chrome google-chrome-stable)
find_chromium() {
	local name app
	if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ]; then
		printf '%s\n' "$CHROMIUM_PATH"
		return 0
	fi
	for name in "${CHROMIUM_NAMES[@]}"; do
		if command -v "$name" >/dev/null; then
			command -v "$name"
			return 0
		fi
	done
	for app in "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" "/Applications/Chromium.app/Contents/MacOS/Chromium"; do
		if [ -x "$app" ]; then
			printf '%s\n' "$app"
			return 0
		fi
	done
	return 1
}

# install_chromium installs Chromium with the OS package manager unless one
# is there already (then it says nothing), and exports CHROMIUM_PATH, the
# browser the tests drive headless (cmd/subsd's browser tests).
install_chromium() {
	local bin
	if [ -n "${CHROMIUM_PATH:-}" ] && [ ! -x "$CHROMIUM_PATH" ]; then
		log "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable; looking for another Chromium"
	fi
	if ! bin=$(find_chromium); then
		os_install Chromium "Install Chromium or Google Chrome, or set CHROMIUM_PATH to its binary." \
			chromium chromium chromium --cask google-chrome
		bin=$(find_chromium) || die "Chromium was installed but is still not found (looked for ${CHROMIUM_NAMES[*]} on PATH)"
	fi
	export CHROMIUM_PATH="$bin"
}
