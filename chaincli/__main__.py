from .cli_fast import main

main()
