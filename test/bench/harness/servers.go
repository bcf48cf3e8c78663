package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ftp-operator/ftp-operator/internal/engineconfig"
	"github.com/ftp-operator/ftp-operator/internal/ftpd"
	"github.com/ftp-operator/ftp-operator/test/support"
)

// server is one FTP server under test, started by us in the foreground and stopped by PID.
type server struct {
	Name    string
	Ours    bool
	Forking bool // a process per session (the C servers)
	MLSD    bool // implements RFC 3659 MLSD
	Port    int
	PasvLo  int
	PasvHi  int
	Version string

	argv []string
	cmd  *exec.Cmd
	log  *os.File
}

func (s *server) url(path string) string {
	return fmt.Sprintf("ftp://%s:%s@127.0.0.1:%d/%s", benchUser, benchPassword, s.Port, strings.TrimPrefix(path, "/"))
}

const (
	benchUser     = "ftpbench"
	benchPassword = "bench"
)

// freeRange finds n consecutive ports, below the kernel's ephemeral range and outside Kubernetes' NodePort
// range, that nothing listens on (checked by binding each one on all interfaces).
func freeRange(start, n int, taken map[int]bool) (int, error) {
	for lo := start; lo+n <= 29999; lo += n {
		ok := true
		for p := lo; p < lo+n && ok; p++ {
			if taken[p] {
				ok = false
				break
			}
			l, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			for p := lo; p < lo+n; p++ {
				taken[p] = true
			}
			return lo, nil
		}
	}
	return 0, fmt.Errorf("no %d free consecutive ports from %d", n, start)
}

// configure writes each server's configuration under work/etc and returns the four servers.
func configure(w *workspace, engine, peers string, pasvSize int) ([]*server, error) {
	taken := map[int]bool{}
	etc := filepath.Join(w.dir, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return nil, err
	}
	var out []*server
	next := 20000
	// Control and health ports: distinct free ports (the kernel may hand back a port it just gave us).
	used := map[int]bool{}
	freshPort := func() (int, error) {
		for i := 0; i < 100; i++ {
			p, err := support.FreeLoopbackPort()
			if err != nil {
				return 0, err
			}
			if !used[p] {
				used[p] = true
				return p, nil
			}
		}
		return 0, fmt.Errorf("no distinct free port")
	}
	mk := func(name string) (*server, error) {
		port, err := freshPort()
		if err != nil {
			return nil, err
		}
		lo, err := freeRange(next, pasvSize, taken)
		if err != nil {
			return nil, err
		}
		next = lo + pasvSize
		return &server{Name: name, Port: port, PasvLo: lo, PasvHi: lo + pasvSize - 1}, nil
	}

	// Ours.
	s, err := mk("ftp-operator")
	if err != nil {
		return nil, err
	}
	s.Ours, s.MLSD = true, true
	health, err := freshPort()
	if err != nil {
		return nil, err
	}
	if err := s.configureOurs(engine, etc, w.root, health); err != nil {
		return nil, err
	}
	out = append(out, s)

	// vsftpd 3: standalone, foreground, PAM login of the system user (Debian's /etc/pam.d/other: pam_unix).
	s, err = mk("vsftpd")
	if err != nil {
		return nil, err
	}
	s.Forking = true
	empty := filepath.Join(w.dir, "vsftpd-empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		return nil, err
	}
	vconf := filepath.Join(etc, "vsftpd.conf")
	if err := os.WriteFile(vconf, []byte(strings.Join([]string{
		"listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1", fmt.Sprintf("listen_port=%d", s.Port), "background=NO",
		"anonymous_enable=NO", "local_enable=YES", "write_enable=YES", "local_umask=022",
		"chroot_local_user=YES", "allow_writeable_chroot=YES", "local_root=" + w.home,
		"pasv_enable=YES", fmt.Sprintf("pasv_min_port=%d", s.PasvLo), fmt.Sprintf("pasv_max_port=%d", s.PasvHi),
		"pasv_address=127.0.0.1", "pam_service_name=ftp-operator-bench", "secure_chroot_dir=" + empty,
		"seccomp_sandbox=NO", "max_clients=0", "max_per_ip=0", "xferlog_enable=NO", "dirmessage_enable=NO",
		"use_localtime=YES", "connect_from_port_20=NO", "idle_session_timeout=600", "data_connection_timeout=300",
		"vsftpd_log_file=" + filepath.Join(w.dir, "vsftpd.log"), "",
	}, "\n")), 0o600); err != nil {
		return nil, err
	}
	s.argv = []string{filepath.Join(peers, "usr/sbin/vsftpd"), vconf}
	s.Version = "3.0.3 (" + debVersion(peers, "vsftpd") + ")"
	out = append(out, s)

	// pure-ftpd: foreground (no -B), PAM login of the system user, chroot everyone, no anonymous, no DNS.
	s, err = mk("pure-ftpd")
	if err != nil {
		return nil, err
	}
	s.Forking, s.MLSD = true, true
	s.argv = []string{filepath.Join(peers, "usr/sbin/pure-ftpd"), "-S", fmt.Sprintf("127.0.0.1,%d", s.Port),
		"-p", fmt.Sprintf("%d:%d", s.PasvLo, s.PasvHi), "-P", "127.0.0.1", "-l", "pam", "-A", "-E", "-H",
		"-c", "30000", "-C", "30000", "-u", "1", "-I", "600", "-g", filepath.Join(w.dir, "pure-ftpd.pid"), "-4"}
	s.Version = debVersion(peers, "pure-ftpd")
	out = append(out, s)

	// proftpd: standalone, foreground (-n), its own AuthUserFile (same user, same password hash).
	s, err = mk("proftpd")
	if err != nil {
		return nil, err
	}
	s.Forking, s.MLSD = true, true
	pconf := filepath.Join(etc, "proftpd.conf")
	if err := os.WriteFile(pconf, []byte(strings.Join([]string{
		`ServerName "bench"`, "ServerType standalone", "DefaultServer on", "UseIPv6 off",
		"DefaultAddress 127.0.0.1", "SocketBindTight on", fmt.Sprintf("Port %d", s.Port),
		"User nobody", "Group nogroup", "Umask 022", "MaxInstances 30000", "MaxClients none",
		fmt.Sprintf("PassivePorts %d %d", s.PasvLo, s.PasvHi), "MasqueradeAddress 127.0.0.1",
		"UseReverseDNS off", "WtmpLog off", "TransferLog none",
		"ScoreboardFile " + filepath.Join(w.dir, "proftpd.scoreboard"), "PidFile " + filepath.Join(w.dir, "proftpd.pid"),
		"DelayTable none", "SystemLog " + filepath.Join(w.dir, "proftpd.log"),
		"AuthOrder mod_auth_unix.c", "AuthPAM off", "RequireValidShell off", "DefaultRoot ~", "AllowOverwrite on",
		"TimeoutIdle 600", "TimeoutNoTransfer 600", "<Directory />", "  AllowOverwrite on", "</Directory>", "",
	}, "\n")), 0o600); err != nil {
		return nil, err
	}
	s.argv = []string{filepath.Join(peers, "usr/sbin/proftpd"), "-n", "-q", "-c", pconf}
	s.Version = debVersion(peers, "proftpd-core")
	out = append(out, s)
	return out, nil
}

// configureOurs writes our engine's users file into etc and sets its command line: the engine binary's ftpd
// subcommand with the arguments of engineConfig.
func (s *server) configureOurs(engine, etc, root string, health int) error {
	users := filepath.Join(etc, "ours-users.yaml")
	doc, err := ftpd.UsersFile{Users: []ftpd.UserEntry{{Name: benchUser, Password: benchPassword, Home: "/bench", Access: ftpd.ReadWrite}}}.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(users, doc, 0o600); err != nil {
		return err
	}
	s.argv = append([]string{engine, "ftpd"}, engineConfig(s, root, users, health).Args()...)
	s.Version = versionOf(engine, "--version")
	return nil
}

// engineConfig is our engine's configuration in the benchmark: on loopback, with the limits that would stop a
// benchmark (sessions per IP, lockout of a user that logs in 10,000 times) out of the way.
func engineConfig(s *server, root, users string, health int) engineconfig.Config {
	c := engineconfig.Default()
	c.Listen = fmt.Sprintf("127.0.0.1:%d", s.Port)
	c.HealthListen = fmt.Sprintf("127.0.0.1:%d", health)
	c.Root, c.Users = root, users
	c.Passive.Ports = ftpd.PortRange{Start: int32(s.PasvLo), End: int32(s.PasvHi)}
	c.Passive.Host = "127.0.0.1"
	c.Address.Static = "127.0.0.1"
	c.LogLevel = "warn"
	c.Limits.LockoutThreshold = 1000000
	c.Limits.MaxSessions, c.Limits.MaxSessionsPerIP = -1, -1
	return c
}

func debVersion(peers, pkg string) string {
	b, err := os.ReadFile(filepath.Join(peers, "..", pkg+".version"))
	if err != nil {
		return "?"
	}
	return "Debian " + strings.TrimSpace(string(b))
}

func versionOf(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// start runs the server in its own process group and waits until it answers 220 on the control port.
func (s *server) start(w *workspace) error {
	f, err := os.Create(filepath.Join(w.dir, s.Name+".stderr"))
	if err != nil {
		return err
	}
	s.log = f
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = w.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.Name, err)
	}
	s.cmd = cmd
	exited := make(chan struct{})
	go func() { _, _ = cmd.Process.Wait(); close(exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			b, _ := os.ReadFile(f.Name())
			return fmt.Errorf("%s exited at start: %s", s.Name, strings.TrimSpace(string(b)))
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), time.Second)
		if err == nil {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 256)
			n, _ := c.Read(buf)
			c.Close()
			if strings.HasPrefix(string(buf[:n]), "220") {
				if err := s.ownsPort(); err != nil {
					s.stop()
					return err
				}
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return fmt.Errorf("%s did not answer 220 on port %d within 15s", s.Name, s.Port)
}

// ownsPort checks that the listener on the control port is the process we started (or one it forked), not
// something else that answered 220.
func (s *server) ownsPort() error {
	out, err := exec.Command("ss", "-Hltnp", fmt.Sprintf("sport = :%d", s.Port)).Output()
	if err != nil {
		return nil // no ss: cannot check
	}
	pid := s.cmd.Process.Pid
	ours := map[string]bool{strconv.Itoa(pid): true}
	for _, k := range descendants(pid) {
		ours[strconv.Itoa(k)] = true
	}
	for _, f := range strings.Split(string(out), "pid=")[1:] {
		if p, _, _ := strings.Cut(f, ","); ours[p] {
			return nil
		}
	}
	return fmt.Errorf("%s: port %d answers, but not from the process we started: %s", s.Name, s.Port, strings.TrimSpace(string(out)))
}

// stop ends the server we started, by PID, then any session process it forked (same process group, which we
// created), and waits for the listener to exit.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pid := s.cmd.Process.Pid
	kids := descendants(pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 50 && alive(pid); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // our process group
	for _, k := range kids {
		if alive(k) {
			_ = syscall.Kill(k, syscall.SIGKILL)
		}
	}
	s.cmd = nil
	if s.log != nil {
		s.log.Close()
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// state is the field after the parenthesised command; Z (zombie) counts as gone.
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z'
}

// descendants lists the processes below pid (children, grandchildren...), from /proc.
func descendants(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 {
			pp, _ := strconv.Atoi(f[1])
			parent[p] = pp
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for c, pp := range parent {
			if pp == p {
				out = append(out, c)
				walk(c)
			}
		}
	}
	walk(pid)
	return out
}

// pss is the proportional set size, in bytes, of pid and every process below it: shared pages are divided
// among the processes sharing them, so forking servers are not charged their libraries once per session.
func pss(pid int) (total uint64, procs int) {
	for _, p := range append([]int{pid}, descendants(pid)...) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "Pss:") {
				f := strings.Fields(line)
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				total += kb << 10
				procs++
			}
		}
	}
	return total, procs
}

var errSkip = errors.New("skipped")
