"""Where a model's config and weights come from: the bundled catalog, a local folder, the Hub."""
