/* bench-feed FILE PROG [NAME=VALUE...]: runs PROG with FILE as its standard
 * input and exactly the NAME=VALUE pairs as its environment, as
 * `env -i NAME=VALUE... PROG < FILE` does, but without a shell or `env`: the
 * benchmarks (bench-ipam.sh, bench-coordinator.sh) time it with `hyperfine -N`, so that a
 * timed run is this program's exec, then the plugin's process, as a runtime
 * execs a CNI plugin. No libc, so no libc start-up in any timed run:
 *   cc -O2 -nostdlib -static -fno-stack-protector -o bench-feed bench-feed.c
 * x86_64 Linux only. Exits 127 with a message when it cannot run PROG. */

#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_dup2 33
#define SYS_execve 59
#define SYS_exit 60

static long sys3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

static void fail(const char *m) {
    long n = 0;
    while (m[n]) n++;
    sys3(SYS_write, 2, (long)m, n);
    sys3(SYS_exit, 127, 0, 0);
}

/* sp: the initial stack (argc, argv..., NULL, envp...). */
__attribute__((used)) void feed_main(long *sp) {
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    if (argc < 3) fail("usage: bench-feed FILE PROG [NAME=VALUE...]\n");
    long fd = sys3(SYS_open, (long)argv[1], 0 /* O_RDONLY */, 0);
    if (fd < 0) fail("bench-feed: cannot open the input file\n");
    if (fd != 0) {
        if (sys3(SYS_dup2, fd, 0, 0) < 0) fail("bench-feed: dup2 failed\n");
        sys3(SYS_close, fd, 0, 0);
    }
    char *args[2] = {argv[2], 0};
    /* argv[3] .. argv[argc - 1] are the environment; argv[argc] is NULL. */
    sys3(SYS_execve, (long)argv[2], (long)args, (long)(argv + 3));
    fail("bench-feed: cannot execute the program\n");
}

__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call feed_main\n hlt\n");
