"""Plain functions the assets call, and the factory that builds the assets from them."""
