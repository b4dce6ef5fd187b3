"""Commands of the ``snn`` command line that compose training, datasets, lowering and backends, one module each
(``register(subparsers)`` adds the subcommand, see :data:`snn.cli.COMMAND_MODULES`)."""
