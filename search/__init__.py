"""Search and the paper pages: the Whoosh index, day lists, stars and Atom feeds."""
