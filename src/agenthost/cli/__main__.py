from agenthost.cli.app import main

main()
