# Shared by the tests of this package: free loopback ports and waiting for a listener.

# Prints a loopback TCP port nobody listens on (and that this test has not handed out yet). It is
# below the kernel's ephemeral range: a port in that range can be the local end of some other
# connection, which a connect probe does not see and which makes a later bind fail.
RELEASE_TEST_PORTS=" "
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$EPHEMERAL_LOW" -gt 12000 ] || EPHEMERAL_LOW=32768
free_port() {
  local port
  while true; do
    port=$((10000 + RANDOM % (EPHEMERAL_LOW - 10000)))
    case "$RELEASE_TEST_PORTS" in *" $port "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      RELEASE_TEST_PORTS+="$port "
      echo "$port"
      return 0
    fi
  done
}

# <port> [seconds] [pid]: waits until something accepts on 127.0.0.1:<port>; 1 after the deadline
# or once <pid> (the process that should listen) has exited.
wait_port() {
  local deadline=$((SECONDS + ${2:-20}))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    [ -z "${3:-}" ] || kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
}
