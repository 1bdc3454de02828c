# Sourced: defines `on_exit COMMAND`, which adds COMMAND to the shell's EXIT trap instead of
# replacing it, so that several sourced set-up scripts (scripts/*/test-server.sh) each clean up.
# Commands run last-added first, like nested scopes; one that fails does not stop the others.
on_exit() {
    local command="$1" previous=""
    # `trap -p EXIT` prints the current trap quoted for re-use: `trap -- 'cmd' EXIT`.
    if [[ -n "$(trap -p EXIT)" ]]; then
        eval "set -- $(trap -p EXIT)"
        previous="$3"
    fi
    trap -- "{ $command
} || true${previous:+; $previous}" EXIT
}
