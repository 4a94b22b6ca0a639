"""Reply correlation: the updates driver sends matched to the bot's replies at the mock
platform API (driver.runner.botside runs it). Pure: no I/O, no processes."""
