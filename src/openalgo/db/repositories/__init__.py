"""One repository per aggregate."""
