"""The classification table: risk and needs_shell of commands, decided by parsing them."""

from __future__ import annotations

import pytest

from opscopilot.tools import classify

READ = [
    "df -h",
    "du -sh /var/log",
    "free -m",
    "uptime",
    "ps aux",
    "ss -tlnp",
    "netstat -tlnp",
    "ls -la /var/log",
    "cat /var/log/syslog",
    "head -n 5 /etc/hosts",
    "tail -n 50 /var/log/x.log",
    "grep -i error /var/log/syslog",
    "wc -l /etc/passwd",
    "stat /etc/hosts",
    "find /var/log -name '*.gz' -mtime +7",
    "journalctl -u nginx -n 50 --no-pager",
    "journalctl --since today -p err",
    "systemctl status nginx",
    "systemctl --no-pager status nginx",
    "systemctl show nginx -p ActiveState",
    "systemctl list-units --failed",
    "systemctl is-active nginx",
    "systemctl cat nginx",
    "kubectl get pods -A",
    "kubectl -n prod describe pod api-1",
    "kubectl logs deploy/api --tail 100",
    "kubectl top nodes",
    "kubectl version",
    "docker ps -a",
    "docker logs --tail 50 web",
    "docker inspect web",
    "docker stats --no-stream",
    "docker images",
    "docker container ls",
    "docker system df",
    "git status",
    "git log --oneline -5",
    "git diff HEAD~1",
    "git show HEAD",
    "git branch -a",
    "curl -sS https://example.com/health",
    "curl -I http://localhost:8080/",
    "curl -X GET http://x/",
    "wget -qO- --max-redirect=0 http://localhost/",
    "dig example.com",
    "nslookup example.com",
    "host example.com",
    "ping -c 3 10.0.0.1",
    "uname -a",
    "hostname",
    "id",
    "whoami",
    "date",
    "date +%s",
    "lsof -i :80",
    "iostat -x 1 2",
    "vmstat 1 3",
    "top -b -n 1",
    "dmesg -T",
    "dmesg --level=err",
    "ip addr show",
    "ip route",
    "sysctl net.ipv4.ip_forward",
    "getent hosts example.com",
    "iptables -L -n",
    "crontab -l",
    "LANG=C df -h",
    "nproc",
    "lsblk",
]
WRITE = [
    "systemctl restart nginx",
    "systemctl start nginx",
    "systemctl reload nginx",
    "systemctl daemon-reload",
    "kubectl apply -f app.yaml",
    "kubectl scale deploy/api --replicas=3",
    "kubectl rollout restart deploy/api",
    "kubectl exec api-1 -- ls",
    "docker restart web",
    "docker run --rm alpine",
    "docker exec web ls",
    "git commit -m x",
    "git pull",
    "git push",
    "git branch newbranch",
    "git branch -d old",
    "curl -d @file http://x/",
    "curl -X POST http://x/",
    "curl -XPOST http://x/",
    "curl --request=DELETE http://x",
    "curl -T f http://x/",
    "curl -F a=b http://x/",
    "curl -o out.html http://x/",
    "curl -O http://x/file",
    "curl -sSLo out http://x/",
    "curl file:///etc/passwd",
    "wget http://x/file",
    "wget -O f http://x/",
    "wget --post-data=a http://x/",
    "env",
    "printenv",
    "printenv HOME",
    "env -i",
    "touch /tmp/x",
    "mkdir /tmp/d",
    "cp a b",
    "mv a b",
    "chmod 600 f",
    "chown root f",
    "tee /etc/motd",
    "sed -i s/a/b/ f",
    "python3 -c 'print(1)'",
    "awk '{print $1}' f",
    "journalctl --rotate",
    "journalctl --flush",
    "journalctl --relinquish-var",
    "dmesg -c",
    "dmesg --clear",
    "hostname newname",
    "date -s '2020-01-01'",
    "kill 1234",
    "pkill nginx",
    "ping 10.0.0.1",
    "top",
    "unknowncommand --flag",
    "./df -h",
    "/opt/tools/df",
    "LD_PRELOAD=/tmp/evil.so ls",
    "PATH=/tmp ls",
    "cat /etc/shadow",
    "cat ~/.ssh/id_rsa",
    "head /home/u/.env",
    "grep x /srv/app/server.key",
    "cat /var/log/../../etc/shadow",
    "sudo -s",
    "sudo",
    "ssh host uptime",
    "kubectl get secret db -o yaml",
    "kubectl get secrets",  # even listing secrets asks now (issue 9)
    "wget -qO- http://localhost/",  # wget follows redirects anywhere without --max-redirect=0
    "kubectl config view --raw",
    "getent shadow",
    "sort -o out in",
    "iptables -A INPUT -j DROP",
    "docker compose config",
    "systemctl show-environment",
    "git -c core.fsmonitor=x status",
]
DESTRUCTIVE = [
    "rm -rf /var/lib/app",
    "rm x",
    "/bin/rm -rf /",
    "/usr/bin/rm x",
    "dd if=/dev/zero of=/dev/sda",
    "mkfs.ext4 /dev/sdb1",
    "shutdown -h now",
    "reboot",
    "kill -9 1234",
    "kill -KILL 1234",
    "kill -s KILL 1",
    "kill -SIGKILL 1",
    "pkill -9 nginx",
    "systemctl stop nginx",
    "systemctl disable nginx",
    "systemctl mask nginx",
    "kubectl delete pod api-1",
    "kubectl -n prod delete deploy api",
    "kubectl drain node-1",
    "docker rm -f web",
    "docker rmi img",
    "docker system prune -af",
    "docker volume prune",
    "docker kill web",
    "git push --force",
    "git push -f origin main",
    "git push origin +main",
    "git reset --hard HEAD~3",
    "git clean -fdx",
    "git branch -D feature",
    "truncate -s 0 /var/log/syslog",
    "shred -u f",
    "chmod -R 777 /",
    "chown -R nobody /srv",
    "iptables -F",
    "iptables --flush",
    "find / -name '*.log' -delete",
    "journalctl --vacuum-size=100M",
    "journalctl --vacuum-time=1d",
    "crontab -r",
    "apt-get remove nginx",
    "apt purge nginx",
    "yum remove httpd",
    "rsync -a --delete a/ b/",
    "ss -K dst 10.0.0.1",
    "ip addr flush dev eth0",
    "service nginx stop",
    "userdel bob",
    "wipefs -a /dev/sdb",
    "ufw disable",
    "nft flush ruleset",
    "init 0",
    "poweroff",
]
# Every wrapper is seen through: the inner command's risk is the call's risk (or higher).
WRAPPED = [
    ("sudo rm -rf /", "destructive"),
    ("sudo -u postgres -H rm x", "destructive"),
    ("sudo -E df -h", "read"),
    ("sudo -n -- systemctl status nginx", "read"),
    ("doas rm x", "destructive"),
    ("env rm x", "destructive"),
    ("env -i rm x", "destructive"),
    ("env -i PATH=/bin df", "write"),
    ("env FOO=bar df -h", "write"),
    ("env LANG=C df -h", "read"),
    ("env -u HOME rm x", "destructive"),
    ("env -S 'rm -rf /'", "destructive"),
    ("FOO=1 rm x", "destructive"),
    ("nohup rm x", "destructive"),
    ("nohup df -h", "read"),
    ("timeout 5 rm x", "destructive"),
    ("timeout -s KILL 5 df", "read"),
    ("timeout -k 1 10 shutdown now", "destructive"),
    ("nice -n 10 rm x", "destructive"),
    ("nice -10 df", "read"),
    ("ionice -c 3 rm x", "destructive"),
    ("ionice -c3 df -h", "read"),
    ("ionice -p 1 -c 3", "write"),
    ("stdbuf -oL rm x", "destructive"),
    ("stdbuf -o L tail -n 5 /var/log/syslog", "read"),
    ("xargs rm", "destructive"),
    ("xargs -0 -n 1 rm -f", "destructive"),
    ("xargs -I{} rm {}", "destructive"),
    ("xargs", "read"),
    ("xargs cat", "read"),
    ("busybox rm x", "destructive"),
    ("busybox df", "read"),
    ("/usr/bin/busybox ls", "read"),
    ("/bin/rm x", "destructive"),
    ("../bin/rm x", "destructive"),
    ("find . -exec rm {} ;", "destructive"),
    ("find . -execdir rm {} +", "destructive"),
    ("find . -ok rm {} ;", "destructive"),
    ("find . -exec cat {} ;", "write"),
    ("find . -fprint /tmp/out", "write"),
    ("kubectl exec -it api -- rm -rf /data", "destructive"),
    ("kubectl exec api -- ls", "write"),
    ("docker exec web rm -rf /", "destructive"),
    ("sudo timeout 5 nice rm x", "destructive"),
    ("sudo env FOO=1 nohup xargs rm", "destructive"),
    ("command rm x", "destructive"),
    ("time rm x", "destructive"),
    ("setsid rm x", "destructive"),
    ("chroot /mnt rm x", "destructive"),
    ("su -c 'rm -rf /' root", "destructive"),
    ("ssh host 'rm -rf /'", "destructive"),
    ("watch -n 1 rm x", "destructive"),
    ("watch -x df", "read"),
]
SHELL_WRAPPED = [
    ("sh -c 'rm -rf /'", "destructive"),
    ("bash -c 'df -h; rm x'", "destructive"),
    ("zsh -c 'ls | wc -l'", "write"),
    ("bash -c 'df -h'", "write"),
    ("dash -c 'reboot'", "destructive"),
    ("sudo bash -c 'rm x'", "destructive"),
    ("/bin/sh -c 'echo $(rm x)'", "destructive"),
    ("busybox sh -c 'rm x'", "destructive"),
    ("bash script.sh", "write"),
    ("xargs sh -c 'rm $0'", "destructive"),
    ("find . -exec sh -c 'rm x' ;", "destructive"),
    ("sudo -s rm x", "destructive"),
    ("watch df", "write"),
]
SHELL_SYNTAX = [
    ("df -h | sort", "write"),
    ("df -h || true", "write"),
    ("true && df", "write"),
    ("df; uptime", "write"),
    ("df > /tmp/out", "write"),
    ("df >> /tmp/out", "write"),
    ("wc -l < /etc/hosts", "write"),
    ("echo $(id)", "write"),
    ("echo `id`", "write"),
    ("echo hi\nrm -rf /", "destructive"),
    ("sleep 10 &", "write"),
    ("ls *.log", "write"),
    ("echo $HOME", "write"),
    ('echo "$(rm -rf /)"', "destructive"),
    ("echo a; rm -rf /", "destructive"),
    ("cat x | xargs rm", "destructive"),
    ("echo `reboot`", "destructive"),
    ("(rm x)", "destructive"),
    ("df 2>/dev/null", "write"),
    ("ls ~", "write"),
    ("echo {a,b}", "write"),
]


def risk_of(command: str) -> tuple[str, bool]:
    classification = classify("run_command", {"command": command})
    return classification.risk, classification.needs_shell


@pytest.mark.parametrize("command", READ)
def test_read_only_commands_are_read(command: str) -> None:
    assert risk_of(command) == ("read", False)


@pytest.mark.parametrize("command", WRITE)
def test_mutating_or_unknown_commands_are_write(command: str) -> None:
    assert risk_of(command)[0] == "write"


@pytest.mark.parametrize("command", DESTRUCTIVE)
def test_destructive_commands_are_destructive(command: str) -> None:
    assert risk_of(command)[0] == "destructive"


@pytest.mark.parametrize(("command", "risk"), WRAPPED)
def test_wrappers_are_seen_through(command: str, risk: str) -> None:
    assert risk_of(command)[0] == risk


@pytest.mark.parametrize(("command", "risk"), SHELL_WRAPPED)
def test_shell_interpreters_need_the_shell_and_classify_their_script(
    command: str, risk: str
) -> None:
    assert risk_of(command) == (risk, True)


@pytest.mark.parametrize(("command", "risk"), SHELL_SYNTAX)
def test_shell_syntax_needs_the_shell_and_is_never_read(command: str, risk: str) -> None:
    assert risk_of(command) == (risk, True)


@pytest.mark.parametrize(
    "command",
    [
        "grep 'a|b' f",
        "echo 'x; rm -rf /'",
        "grep -e '$HOME' f",
        "echo \\$HOME",
        "find . -exec ls {} \\;",
    ],
)
def test_quoted_or_escaped_metacharacters_are_plain_words(command: str) -> None:
    assert risk_of(command)[1] is False


def test_classification_explains_itself_and_names_the_command() -> None:
    classification = classify("run_command", {"command": "sudo  /bin/rm -rf  /tmp/x"})
    assert classification.command == "sudo /bin/rm -rf /tmp/x"
    assert "rm -rf /tmp/x" in classification.subjects
    assert "rm" in classification.reason


@pytest.mark.parametrize(
    ("name", "arguments", "risk"),
    [
        ("read_file", {"path": "/etc/hosts"}, "read"),
        ("read_file", {"path": "/etc/shadow"}, "write"),
        ("read_file", {"path": "/var/log/../../etc/shadow"}, "write"),
        ("read_file", {"path": "~/.ssh/id_ed25519"}, "write"),
        ("read_file", {"path": "/srv/app/.env"}, "write"),
        ("read_file", {"path": "/etc/ssl/server.pem"}, "write"),
        ("read_file", {"path": "/srv/app/api_key.txt"}, "write"),
        ("read_file", {"path": "/proc/1/environ"}, "write"),
        ("tail_log", {"path": "/var/log/syslog"}, "read"),
        ("tail_log", {"unit": "nginx"}, "read"),
        ("tail_log", {"path": "/home/u/.bash_history"}, "write"),
        ("http_check", {"url": "http://localhost/health"}, "read"),
        ("http_check", {"url": "http://localhost/health", "method": "HEAD"}, "read"),
        ("http_check", {"url": "http://x/", "method": "POST"}, "write"),
        ("http_check", {"url": "http://x/", "method": "delete"}, "write"),
        ("http_check", {"url": "http://169.254.169.254/latest/meta-data/"}, "write"),
        ("system_info", {}, "read"),
        ("no_such_tool", {}, "write"),
    ],
)
def test_other_tools_are_classified_by_their_arguments(
    name: str, arguments: dict, risk: str
) -> None:
    assert classify(name, arguments).risk == risk


def test_symlink_to_a_secret_is_resolved_before_deciding(tmp_path) -> None:
    link = tmp_path / "innocent.txt"
    link.symlink_to("/etc/shadow")
    assert classify("read_file", {"path": str(link)}).risk == "write"
    assert classify("run_command", {"command": f"cat {link}"}).risk == "write"
