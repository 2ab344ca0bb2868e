from envoylog.cli import main

main()
