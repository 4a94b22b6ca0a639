"""`python -m driver.cli ...`: the same as the `driver` command."""
from driver.cli import main

main()
