"""What Blooio's responses must look like: the checks of their shape and values, and how
errors name what they found without showing a customer's data."""
