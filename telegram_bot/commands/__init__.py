"""Command handlers, one module per area: parse the words, call rpc, format, reply."""
