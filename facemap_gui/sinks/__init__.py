"""Where results go: the JSON Lines schema, the overlay drawing, recordings and avatar-app streams."""
