error(present)
