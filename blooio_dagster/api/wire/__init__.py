"""What Blooio's responses must look like: the shape checks of each endpoint's answers."""
