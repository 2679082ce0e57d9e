"""Human rating studies exported as Label Studio tasks (DESIGN.md section 1, item 4)."""
