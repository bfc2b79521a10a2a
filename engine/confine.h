/* confine.h: the files a rule file reaches (its lookup and override tables, beside it; the
 * inputs it names, in --data) are opened only inside their folder: a symbolic link to a file
 * inside the same folder is followed, one that leads out of it (to /etc/passwd, or up with ..)
 * is refused, and so is anything that is not a regular file (a folder, a device). */
#ifndef DF_CONFINE_H
#define DF_CONFINE_H

#include <stddef.h>

/* Opens dir/name for reading, confined to dir. Returns the descriptor; or -2, refused ("it is a
 * link that leads out of its folder", "it is a folder, not a file"), or -1, the system's reason
 * (no such file...), with the reason in why[0 .. cap). */
int confine_open(const char *dir, const char *name, char *why, size_t cap);
/* The same check without keeping the file open: 0 when dir/name may be read, else -2 or -1. */
int confine_check(const char *dir, const char *name, char *why, size_t cap);

#endif
