"""The `gatestack` command line: one module per command (or command group), assembled in
`app.py`. Each command parses its stack once (`gatestack.stack_source`) and hands that object
on; nothing here is called back from the packages below."""
