from opscopilot.cli.main import main

main()
