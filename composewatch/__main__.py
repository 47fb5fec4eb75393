from composewatch.cli import main

main()
