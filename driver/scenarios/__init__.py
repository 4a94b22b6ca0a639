"""Built-in scenarios, usable as `driver run URL -s driver.scenarios.telegram:CatalogBot`."""
