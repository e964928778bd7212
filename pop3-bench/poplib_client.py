#!/usr/bin/env python3
"""poplib baseline for pop3-bench: log in, retr() every message, count the octets.

Usage: poplib_client.py HOST PORT MESSAGES
Prints: SETUP_SECONDS FETCH_SECONDS OCTETS MESSAGES
OCTETS counts each unstuffed line plus its CRLF, which is the message's size.
"""
import poplib
import sys
import time


def main():
    host, port, messages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    start = time.perf_counter()
    pop = poplib.POP3(host, port, timeout=600)
    pop.user("demo")
    pop.pass_("demo")
    setup = time.perf_counter() - start
    start = time.perf_counter()
    octets = 0
    fetched = 0
    for msg in range(1, messages + 1):
        _resp, lines, _size = pop.retr(msg)
        octets += sum(len(line) + 2 for line in lines)
        fetched += 1
    fetch = time.perf_counter() - start
    pop.quit()
    print(f"{setup:.6f} {fetch:.6f} {octets} {fetched}")


if __name__ == "__main__":
    main()
