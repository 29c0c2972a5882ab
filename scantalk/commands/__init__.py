"""The `scantalk` command line: `up`, `node`, `settings` and the commands that are tools, not
nodes (`contract`, `watch`, `manifest`, `broker`). Each tool is found through the registry
(entry points `scantalk.commands`), as node commands are; the core never imports this package."""
