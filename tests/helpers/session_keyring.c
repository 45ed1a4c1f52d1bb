/* Prints the description of the caller's session keyring ("keyring;uid;gid;perm;name"),
 * so a test can tell which keyring a container process is in. */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KEYCTL_DESCRIBE 6
#define KEY_SPEC_SESSION_KEYRING -3

int main(void) {
    char buf[512];
    long n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, KEY_SPEC_SESSION_KEYRING, buf, sizeof buf);
    if (n < 0) {
        perror("keyctl describe");
        return 1;
    }
    printf("%s\n", buf);
    return 0;
}
