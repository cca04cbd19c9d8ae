from edgewatch.cli import main

main()
