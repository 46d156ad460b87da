#!/usr/bin/env bash
# Installs (when missing) and starts on loopback the real services the tests
# talk to: Debian's clickhouse-server, an Apache Kafka 4.x broker (KRaft, jars
# from Maven Central, run on the machine's Java 17), chdb (PyPI), and a
# ClickHouse cluster: Debian's zookeeper and two more clickhouse-server
# instances (see "ClickHouse cluster" below for the layout).
# Idempotent: a service already answering is left alone. Bounded waits.
#
# Versions are pinned, so a new upstream release cannot change what the
# tests run against (README.md, "What make test puts on the machine"):
#   Debian packages  exact versions below; Debian's archive keeps only the
#                    newest build of a release's package, so a security
#                    rebuild of the same upstream version is accepted with a
#                    warning and any other upstream version is refused
#   Kafka            KAFKA_VERSION jars from Maven Central (exact)
#   chdb             scripts/requirements-chdb.txt (exact, with its dependencies)
#
#   scripts/services.sh          install + start, then print the env to export
#   scripts/services.sh env      print the env only (services must be up)
#   scripts/services.sh stop     stop what this script started
#
# Tests that kill a cluster node or ZooKeeper restart it themselves: each has
# a control directory (printed by env) holding `pid` (the running process)
# and `start` (an executable that starts it again on the same ports and data,
# detached, and returns once it answers; a no-op while it runs).
#
# State lives under .services/ in the repository (git-ignored).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${TELEMETRY_SERVICES_DIR:-$ROOT/.services}
CH_TCP=${CH_TCP_PORT:-19000}
CH_HTTP=${CH_HTTP_PORT:-18123}
KAFKA_PORT=${KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}
KAFKA_VERSION=${KAFKA_VERSION:-4.1.1}
ZK_PORT=${ZK_PORT:-12181}
# The cluster's nodes: native, HTTP and interserver (replication) ports.
read -ra CLUSTER_TCP <<<"${CLUSTER_TCP_PORTS:-19001 19002}"
read -ra CLUSTER_HTTP <<<"${CLUSTER_HTTP_PORTS:-18124 18125}"
read -ra CLUSTER_INTERSERVER <<<"${CLUSTER_INTERSERVER_PORTS:-19011 19012}"
mkdir -p "$STATE"

# Debian package pins: name=version. The upstream part (before the Debian
# revision) must match exactly. Java is pinned to its major version (17,
# checked below) only: Debian's security updates replace OpenJDK 17's patch
# release, and the old one is then no longer served.
DEB_PINS=(
  clickhouse-server=18.16.1+ds-7.3+b2
  clickhouse-client=18.16.1+ds-7.3+b2
  maven=3.8.7-1
  libreoffice-impress=4:7.4.7-1+deb12u14
  poppler-utils=22.12.0-2+deb12u3
  zookeeper=3.8.0-11+deb12u2
)

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root to run: $*"; fi; }

# upstream VERSION: the version without its epoch and Debian revision
# (4:7.4.7-1+deb12u14 -> 7.4.7; 17.0.15+6-1~deb12u1 -> 17.0.15+6).
upstream() { local v=${1#*:}; echo "${v%-*}"; }

# pinned PKG: PKG=VERSION as pinned, or the same upstream version's build
# that the archive serves now (with a warning); dies on another upstream.
pinned() {
  local pkg=$1 want="" p
  for p in "${DEB_PINS[@]}"; do [ "${p%%=*}" = "$pkg" ] && want=${p#*=}; done
  [ -n "$want" ] || { echo "$pkg"; return; }
  local avail; avail=$(apt-cache madison "$pkg" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}')
  if grep -qxF "$want" <<<"$avail"; then echo "$pkg=$want"; return; fi
  local v
  for v in $avail; do
    if [ "$(upstream "$v")" = "$(upstream "$want")" ]; then
      log "WARNING: $pkg $want is no longer served; using $v (same upstream $(upstream "$want"))"
      echo "$pkg=$v"; return
    fi
  done
  die "$pkg: pinned $want (upstream $(upstream "$want")) is not served (available: ${avail:-none}); update DEB_PINS in $0"
}

apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand (see README)"
  if [ ! -f "$STATE/.apt-updated" ]; then
    as_root apt-get update -qq >/dev/null || die "apt-get update failed"
    touch "$STATE/.apt-updated"
  fi
  local args=() a
  for a in "$@"; do case $a in -*) args+=("$a") ;; *) args+=("$(pinned "$a")") ;; esac; done
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --allow-downgrades "${args[@]}" >/dev/null || die "apt-get install ${args[*]} failed"
}

# check_version NAME WANT GOT: refuses a service whose version is not the pinned one.
check_version() {
  [ "$2" = "$3" ] || die "$1 is version '$3', the tests are pinned to '$2' (remove it or update the pin in $0)"
}

wait_for() { # name seconds command...
  local name=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.5
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- ClickHouse
clickhouse_bin() {
  for b in clickhouse-server clickhouse; do command -v $b >/dev/null && { echo $b; return; }; done
  [ -x /usr/bin/clickhouse ] && { echo /usr/bin/clickhouse; return; }
  return 1
}

# write_users FILE [SETTINGS]: the users.xml of every server here (user
# default, no password, loopback only), SETTINGS (XML) added to its profile.
write_users() {
  cat > "$1" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage>${2:-}</default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
}

start_clickhouse() {
  if port_open "$CH_TCP"; then log "clickhouse already on 127.0.0.1:$CH_TCP"; check_clickhouse; return; fi
  if ! clickhouse_bin >/dev/null; then
    log "installing clickhouse-server (Debian package)"
    apt_install clickhouse-server clickhouse-client
  fi
  local dir=$STATE/clickhouse
  mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
  cat > "$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/error.log</errorlog><size>10M</size><count>2</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>$CH_TCP</tcp_port>
  <http_port>$CH_HTTP</http_port>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>200</max_concurrent_queries>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
</yandex>
XML
  write_users "$dir/users.xml"
  local bin; bin=$(clickhouse_bin)
  local args=(--config-file="$dir/config.xml")
  [ "$(basename "$bin")" = clickhouse ] && args=(server "${args[@]}")
  log "starting clickhouse ($bin) on 127.0.0.1:$CH_TCP (http $CH_HTTP)"
  nohup "$bin" "${args[@]}" > "$dir/log/stdout.log" 2>&1 &
  echo $! > "$dir/pid"
  wait_for clickhouse 60 curl -sf "http://127.0.0.1:$CH_HTTP/ping" \
    || { tail -20 "$dir/log/error.log" "$dir/log/stdout.log" >&2 || true; die "clickhouse did not answer on :$CH_HTTP within 60s"; }
  check_clickhouse
}

# The live server is ClickHouse 18.16 on purpose: the oldest server the sink
# supports (plain types, partition-drop retention); chdb covers current SQL.
CH_VERSION=18.16.1
check_clickhouse() {
  check_version "clickhouse-server on :$CH_HTTP" "$CH_VERSION" \
    "$(curl -sf "http://127.0.0.1:$CH_HTTP/?query=SELECT%20version()" || echo unknown)"
}

# ---------------------------------------------------------------- Kafka
# The suffix changes whenever the dependency list below does, so a machine
# with an older set of jars fetches a fresh one.
KAFKA_LIBS_REV=2
kafka_libs() { echo "$STATE/kafka-$KAFKA_VERSION-r$KAFKA_LIBS_REV/libs"; }

fetch_kafka() {
  local libs; libs=$(kafka_libs)
  [ -f "$libs/.complete" ] && return
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  java -version 2>&1 | grep -q 'version "17\.' || die "Kafka $KAFKA_VERSION is tested on Java 17; 'java' is $(java -version 2>&1 | head -1) (install openjdk-17-jre-headless)"
  command -v mvn >/dev/null || apt_install maven
  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central"
  local pom=$STATE/kafka-$KAFKA_VERSION-r$KAFKA_LIBS_REV/pom.xml
  mkdir -p "$libs"
  cat > "$pom" <<XML
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.telemetry</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
    <!-- log4j-slf4j2-impl needs slf4j 2; without it the broker's log stays empty -->
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.16</version></dependency>
  </dependencies>
</project>
XML
  timeout 900 mvn -q -B -f "$pom" dependency:copy-dependencies -DoutputDirectory="$libs" -DincludeScope=runtime >&2 \
    || die "could not fetch Kafka jars from Maven Central (mvn dependency:copy-dependencies)"
  touch "$libs/.complete"
}

# kafka_node DIR NODE_ID BROKER_PORT CONTROLLER_PORT QUORUM_VOTERS
write_kafka_props() {
  local dir=$1 id=$2 port=$3 cport=$4 voters=$5
  mkdir -p "$dir/data"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=8
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=24
log.segment.bytes=67108864
PROPS
  cat > "$dir/log4j2.properties" <<PROPS
rootLogger.level=WARN
rootLogger.appenderRef.file.ref=FILE
appender.file.type=File
appender.file.name=FILE
appender.file.fileName=$dir/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
PROPS
}

start_kafka() {
  fetch_kafka   # the jars also serve tests that start brokers of their own
  if port_open "$KAFKA_PORT"; then log "kafka already on 127.0.0.1:$KAFKA_PORT"; return; fi
  local dir=$STATE/kafka libs; libs=$(kafka_libs)
  write_kafka_props "$dir" 1 "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "1@127.0.0.1:$KAFKA_CONTROLLER_PORT"
  local cp="$libs/*"
  local jopts=(-Xms256m -Xmx1g -Dlog4j2.configurationFile="$dir/log4j2.properties")
  if [ ! -f "$dir/data/meta.properties" ]; then
    log "formatting kafka storage (KRaft)"
    java "${jopts[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)" \
      -c "$dir/server.properties" --ignore-formatted >&2 || die "kafka storage format failed"
  fi
  log "starting kafka $KAFKA_VERSION (KRaft) on 127.0.0.1:$KAFKA_PORT"
  nohup java "${jopts[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties" > "$dir/stdout.log" 2>&1 &
  echo $! > "$dir/pid"
  wait_for kafka 90 port_open "$KAFKA_PORT" \
    || { tail -30 "$dir/stdout.log" "$dir/server.log" >&2 || true; die "kafka did not listen on :$KAFKA_PORT within 90s"; }
}

# ---------------------------------------------------------------- ZooKeeper
# Debian's zookeeper package, standalone, on 127.0.0.1:$ZK_PORT: the
# coordination the cluster's replicated tables and ON CLUSTER DDL need. It
# runs on the Java 17 Kafka uses; logs through slf4j-simple (warnings only).
ZK_VERSION=3.8.0
ZK_JARS=/usr/share/java

# write_control DIR NAME CHECK COMMAND...: DIR/start, the service's restart
# script: a no-op while CHECK succeeds, else COMMAND detached (setsid,
# output to DIR/stdout.log), its pid in DIR/pid, and a wait (60 s) for CHECK.
write_control() {
  local dir=$1 name=$2 check=$3; shift 3
  {
    echo '#!/usr/bin/env bash'
    echo "# Starts $name (written by scripts/services.sh); a no-op while it answers."
    echo 'set -u'
    echo "ok() { $check; }"
    echo 'ok >/dev/null 2>&1 && exit 0'
    printf 'setsid'; printf ' %q' "$@"; printf ' >> %q 2>&1 < /dev/null &\n' "$dir/stdout.log"
    printf 'echo $! > %q\n' "$dir/pid"
    echo 'for _ in $(seq 120); do ok >/dev/null 2>&1 && exit 0; sleep 0.5; done'
    printf 'echo "%s did not answer within 60s" >&2; tail -20 %q >&2; exit 1\n' "$name" "$dir/stdout.log"
  } > "$dir/start"
  chmod +x "$dir/start"
}

zk_ok() { [ "$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null)" = imok ]; }

start_zookeeper() {
  if [ ! -f "$ZK_JARS/zookeeper.jar" ]; then
    log "installing zookeeper (Debian package)"
    command -v java >/dev/null || apt_install openjdk-17-jre-headless
    apt_install --no-install-recommends zookeeper
  fi
  check_version zookeeper "$ZK_VERSION" "$(upstream "$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || echo unknown-0)")"
  local dir=$STATE/zookeeper
  mkdir -p "$dir/data"
  cat > "$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
CFG
  local probe="[ \"\$( (exec 3<>/dev/tcp/127.0.0.1/$ZK_PORT && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null)\" = imok ]"
  write_control "$dir" zookeeper "$probe" "$(command -v java)" -Xms64m -Xmx256m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$ZK_JARS/zookeeper.jar:$ZK_JARS/slf4j-simple.jar" org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg"
  if zk_ok "$ZK_PORT"; then log "zookeeper already on 127.0.0.1:$ZK_PORT"; return; fi
  log "starting zookeeper $ZK_VERSION on 127.0.0.1:$ZK_PORT"
  "$dir/start" || die "zookeeper did not answer on :$ZK_PORT"
}

# ---------------------------------------------------------------- ClickHouse cluster
# Two more clickhouse-server 18.16 instances (ch1, ch2) on loopback, the
# single server above left as it is. Both define two clusters over the same
# two servers (the machine has 2 cores: four servers would not leave room for
# the tests):
#   telemetry             2 shards x 1 replica  (ch1 = shard 1, ch2 = shard 2)
#   telemetry_replicated  1 shard x 2 replicas  (ch1, ch2)
# Macros: {shard} (1 or 2, the telemetry cluster's) and {replica} (ch1, ch2;
# unique over both). One server has one {shard}, so the replicated cluster's
# tables use a replication path without it: the sink's clickhouse.replication-path
# (default /clickhouse/tables/{cluster}/{shard}/{database}/{table}) is set
# to /clickhouse/tables/{cluster}/{database}/{table} for it (docs/storage.md).
CLUSTER_SHARDED=telemetry
CLUSTER_REPLICATED=telemetry_replicated

cluster_remote_servers() {
  local p
  echo "  <remote_servers>"
  echo "    <$CLUSTER_SHARDED>"
  for p in "${CLUSTER_TCP[@]}"; do
    echo "      <shard><internal_replication>true</internal_replication><replica><host>127.0.0.1</host><port>$p</port></replica></shard>"
  done
  echo "    </$CLUSTER_SHARDED>"
  echo "    <$CLUSTER_REPLICATED>"
  echo "      <shard><internal_replication>true</internal_replication>"
  for p in "${CLUSTER_TCP[@]}"; do
    echo "        <replica><host>127.0.0.1</host><port>$p</port></replica>"
  done
  echo "      </shard>"
  echo "    </$CLUSTER_REPLICATED>"
  echo "  </remote_servers>"
}

start_cluster_node() { # index (0-based)
  local i=$1 n=$(( $1 + 1 ))
  local dir=$STATE/clickhouse-ch$n tcp=${CLUSTER_TCP[$1]} http=${CLUSTER_HTTP[$1]}
  mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
  {
    cat <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/error.log</errorlog><size>10M</size><count>2</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>$tcp</tcp_port>
  <http_port>$http</http_port>
  <interserver_http_port>${CLUSTER_INTERSERVER[$i]}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <mark_cache_size>134217728</mark_cache_size>
  <max_concurrent_queries>200</max_concurrent_queries>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <zookeeper><node><host>127.0.0.1</host><port>$ZK_PORT</port></node><session_timeout_ms>10000</session_timeout_ms></zookeeper>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
  <macros><shard>$n</shard><replica>ch$n</replica></macros>
XML
    cluster_remote_servers
    echo "</yandex>"
  } > "$dir/config.xml"
  # A sub-query on a Distributed table inside IN runs once and its result
  # goes to every shard (GLOBAL IN): the dashboards' and the report's
  # queries answer as on one server (docs/storage.md). 18.16 takes this
  # string setting from the profile only (clickhouse-go cannot send it).
  write_users "$dir/users.xml" "<distributed_product_mode>global</distributed_product_mode>"
  local bin; bin=$(clickhouse_bin)
  local args=(--config-file="$dir/config.xml")
  [ "$(basename "$bin")" = clickhouse ] && args=(server "${args[@]}")
  write_control "$dir" "clickhouse ch$n" "curl -sf http://127.0.0.1:$http/ping" "$(command -v "$bin")" "${args[@]}"
  if port_open "$tcp"; then log "clickhouse ch$n already on 127.0.0.1:$tcp"; else
    log "starting clickhouse ch$n on 127.0.0.1:$tcp (http $http)"
    "$dir/start" || { tail -20 "$dir/log/error.log" >&2 || true; die "clickhouse ch$n did not answer on :$http"; }
  fi
  check_version "clickhouse-server on :$http" "$CH_VERSION" \
    "$(curl -sf "http://127.0.0.1:$http/?query=SELECT%20version()" || echo unknown)"
}

start_cluster() {
  start_zookeeper
  local i
  for i in "${!CLUSTER_TCP[@]}"; do start_cluster_node "$i"; done
  # Both clusters answer an ON CLUSTER query (ZooKeeper, macros and the DDL queue work).
  local q="SELECT count() FROM system.clusters WHERE cluster IN ('$CLUSTER_SHARDED', '$CLUSTER_REPLICATED')"
  [ "$(curl -sf "http://127.0.0.1:${CLUSTER_HTTP[0]}/" --data-binary "$q")" = $(( 2 * ${#CLUSTER_TCP[@]} )) ] \
    || die "clickhouse ch1 does not list the clusters $CLUSTER_SHARDED and $CLUSTER_REPLICATED"
}

# ---------------------------------------------------------------- chdb
chdb_python() {
  local py=${PYTHON:-python3}
  command -v "$py" >/dev/null || apt_install python3 python3-pip
  local req=$ROOT/scripts/requirements-chdb.txt want
  want=$(sed -n 's/^chdb==//p' "$req")
  if [ "$("$py" -c 'import chdb; print(chdb.__version__)' 2>/dev/null)" != "$want" ]; then
    log "installing chdb $want (PyPI, pinned in scripts/requirements-chdb.txt)"
    "$py" -m pip install -q -r "$req" >&2 2>/dev/null || "$py" -m pip install -q --break-system-packages -r "$req" >&2 \
      || die "pip install -r $req failed"
  fi
  check_version chdb "$want" "$("$py" -c 'import chdb; print(chdb.__version__)' 2>/dev/null)"
  command -v "$py"
}

# ---------------------------------------------------------------- report tools
# LibreOffice Impress (pptx -> pdf) and poppler (pdf -> png) for the report tests.
ensure_report_tools() {
  command -v soffice >/dev/null && command -v pdftoppm >/dev/null && return
  log "installing libreoffice-impress and poppler-utils (Debian packages, for the report tests)"
  apt_install --no-install-recommends libreoffice-impress poppler-utils
}

print_env() {
  cat <<ENV
export TELEMETRY_TEST_CLICKHOUSE=127.0.0.1:$CH_TCP
export TELEMETRY_TEST_CLICKHOUSE_HTTP=127.0.0.1:$CH_HTTP
export TELEMETRY_TEST_CLICKHOUSE_CONTROL=$STATE/clickhouse
export TELEMETRY_TEST_KAFKA=127.0.0.1:$KAFKA_PORT
export TELEMETRY_TEST_KAFKA_LIBS=$(kafka_libs)
export TELEMETRY_TEST_CHDB=$(chdb_python)
export TELEMETRY_TEST_ZOOKEEPER=127.0.0.1:$ZK_PORT
export TELEMETRY_TEST_ZOOKEEPER_CONTROL=$STATE/zookeeper
export TELEMETRY_TEST_CLICKHOUSE_CLUSTER=$(join 127.0.0.1: "${CLUSTER_TCP[@]}")
export TELEMETRY_TEST_CLICKHOUSE_CLUSTER_HTTP=$(join 127.0.0.1: "${CLUSTER_HTTP[@]}")
export TELEMETRY_TEST_CLICKHOUSE_CLUSTER_CONTROL=$(join "$STATE/clickhouse-ch" $(seq ${#CLUSTER_TCP[@]}))
ENV
}

# join PREFIX ITEM...: the items with PREFIX before each, comma-separated.
join() { local pre=$1 out="" x; shift; for x in "$@"; do out+=${out:+,}$pre$x; done; echo "$out"; }

stop_all() {
  for p in "$STATE/kafka/pid" "$STATE/clickhouse/pid" "$STATE"/clickhouse-ch*/pid "$STATE/zookeeper/pid"; do
    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
    rm -f "$p"
  done
}

case "${1:-start}" in
  start) start_clickhouse; start_cluster; start_kafka; chdb_python >/dev/null; ensure_report_tools; print_env ;;
  env) print_env ;;
  stop) stop_all ;;
  *) die "usage: $0 [start|env|stop]" ;;
esac
