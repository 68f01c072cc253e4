from ffui.cli import main

main()
