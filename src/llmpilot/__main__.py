from llmpilot.cli import main

main()
