package ftpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// commandDef describes a command: the table below is the protocol.
type commandDef struct {
	handle    func(ss *session, arg string) (quit bool)
	needsAuth bool
	needsArg  bool
	opensData bool
}

var commands map[string]commandDef

func init() {
	commands = map[string]commandDef{
		// Access control and session.
		"USER": {handle: (*session).cmdUSER, needsArg: true},
		"PASS": {handle: (*session).cmdPASS},
		"ACCT": {handle: reply(202, "ACCT not needed.")},
		"QUIT": {handle: (*session).cmdQUIT},
		"REIN": {handle: reply(502, "REIN not implemented.")},
		"NOOP": {handle: reply(200, "NOOP ok.")},
		"SYST": {handle: reply(215, "UNIX Type: L8")},
		"FEAT": {handle: (*session).cmdFEAT},
		"OPTS": {handle: (*session).cmdOPTS, needsArg: true},
		"HELP": {handle: (*session).cmdHELP},
		"STAT": {handle: (*session).cmdSTAT},
		"ABOR": {handle: reply(226, "No transfer to abort.")},
		"CLNT": {handle: reply(200, "Noted.")},
		"SITE": {handle: reply(502, "SITE not implemented."), needsAuth: true},
		"SMNT": {handle: reply(502, "SMNT not implemented."), needsAuth: true},
		"ALLO": {handle: reply(202, "No storage allocation necessary."), needsAuth: true},
		// RFC 4217.
		"AUTH": {handle: (*session).cmdAUTH, needsArg: true},
		"PBSZ": {handle: (*session).cmdPBSZ, needsArg: true},
		"PROT": {handle: (*session).cmdPROT, needsArg: true},
		"CCC":  {handle: reply(534, "CCC refused: the control connection stays encrypted.")},
		// Transfer parameters.
		"TYPE": {handle: (*session).cmdTYPE, needsAuth: true, needsArg: true},
		"MODE": {handle: (*session).cmdMODE, needsAuth: true, needsArg: true},
		"STRU": {handle: (*session).cmdSTRU, needsAuth: true, needsArg: true},
		"PORT": {handle: (*session).cmdPORT, needsAuth: true, needsArg: true},
		"EPRT": {handle: (*session).cmdEPRT, needsAuth: true, needsArg: true},
		"PASV": {handle: (*session).cmdPASV, needsAuth: true},
		"EPSV": {handle: (*session).cmdEPSV, needsAuth: true},
		"REST": {handle: (*session).cmdREST, needsAuth: true, needsArg: true},
		// Navigation and file management.
		"PWD":  {handle: (*session).cmdPWD, needsAuth: true},
		"XPWD": {handle: (*session).cmdPWD, needsAuth: true},
		"CWD":  {handle: (*session).cmdCWD, needsAuth: true, needsArg: true},
		"XCWD": {handle: (*session).cmdCWD, needsAuth: true, needsArg: true},
		"CDUP": {handle: (*session).cmdCDUP, needsAuth: true},
		"XCUP": {handle: (*session).cmdCDUP, needsAuth: true},
		"MKD":  {handle: (*session).cmdMKD, needsAuth: true, needsArg: true},
		"XMKD": {handle: (*session).cmdMKD, needsAuth: true, needsArg: true},
		"RMD":  {handle: (*session).cmdRMD, needsAuth: true, needsArg: true},
		"XRMD": {handle: (*session).cmdRMD, needsAuth: true, needsArg: true},
		"DELE": {handle: (*session).cmdDELE, needsAuth: true, needsArg: true},
		"RNFR": {handle: (*session).cmdRNFR, needsAuth: true, needsArg: true},
		"RNTO": {handle: (*session).cmdRNTO, needsAuth: true, needsArg: true},
		"SIZE": {handle: (*session).cmdSIZE, needsAuth: true, needsArg: true},
		"MDTM": {handle: (*session).cmdMDTM, needsAuth: true, needsArg: true},
		"MFMT": {handle: (*session).cmdMFMT, needsAuth: true, needsArg: true},
		"MLST": {handle: (*session).cmdMLST, needsAuth: true},
		"HASH": {handle: (*session).cmdHASH, needsAuth: true, needsArg: true},
		// Data transfer.
		"RETR": {handle: (*session).cmdRETR, needsAuth: true, needsArg: true, opensData: true},
		"STOR": {handle: (*session).cmdSTOR, needsAuth: true, needsArg: true, opensData: true},
		"STOU": {handle: (*session).cmdSTOU, needsAuth: true, opensData: true},
		"APPE": {handle: (*session).cmdAPPE, needsAuth: true, needsArg: true, opensData: true},
		"LIST": {handle: (*session).cmdLIST, needsAuth: true, opensData: true},
		"NLST": {handle: (*session).cmdNLST, needsAuth: true, opensData: true},
		"MLSD": {handle: (*session).cmdMLSD, needsAuth: true, opensData: true},
	}
}

func reply(code int, msg string) func(*session, string) bool {
	return func(ss *session, _ string) bool {
		ss.reply(code, msg)
		return false
	}
}

func (ss *session) cmdUSER(arg string) bool {
	if ss.user != nil {
		ss.reply(530, "Already logged in.")
		return false
	}
	if ss.srv.tlsMode() != TLSExplicit && !ss.controlTLS {
		ss.reply(530, "TLS required: send AUTH TLS first.")
		return false
	}
	ss.pendingUser = arg
	ss.reply(331, "Password required.")
	return false
}

func (ss *session) cmdPASS(arg string) bool {
	if ss.user != nil {
		ss.reply(230, "Already logged in.")
		return false
	}
	if ss.pendingUser == "" {
		ss.reply(503, "Login with USER first.")
		return false
	}
	name := ss.pendingUser
	ss.pendingUser = ""
	srv := ss.srv
	waitCtx, cancel := context.WithTimeout(context.Background(), loginQueueTimeout)
	attempt, wait, refused := srv.lock.acquire(waitCtx, ss.clientIP, name)
	cancel()
	if refused {
		srv.Metrics.login("locked")
		if wait > 0 {
			ss.reply(530, fmt.Sprintf("Too many failed logins; try again in %d s.", int(wait.Seconds()+1)))
		} else {
			ss.reply(530, "Too many failed logins in progress; try again later.")
		}
		return false
	}
	u, err := srv.Auth.Authenticate(context.Background(), name, arg)
	if err == nil {
		srv.lock.end(attempt, true)
		var st Storage
		if st, err = srv.storage().Storage(u); err == nil {
			ss.user, ss.st, ss.cwd = u, st, "/"
			srv.Metrics.login("ok")
			srv.logger().Info("login", "user", u.Name, "remote", ss.clientIP.String())
			ss.reply(230, "Login successful.")
			return false
		}
		srv.logger().Error("opening user file system", "user", name, "err", err)
		ss.reply(421, "Home directory unavailable.")
		return true
	}
	if !errors.Is(err, ErrAuthFailed) {
		srv.logger().Error("authenticating", "user", name, "err", err)
	}
	srv.Metrics.login("failed")
	srv.logger().Info("login failed", "user", name, "remote", ss.clientIP.String())
	if srv.lock.end(attempt, false) {
		srv.Metrics.lockedOut()
		srv.logger().Warn("login locked out after failed logins", "user", name, "remote", ss.clientIP.String())
	}
	delay := srv.LoginDelay // negative disables the delay
	if delay == 0 {
		delay = 500 * time.Millisecond
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	ss.reply(530, "Login incorrect.")
	return false
}

func (ss *session) cmdQUIT(string) bool {
	ss.reply(221, "Goodbye.")
	return true
}

func (ss *session) cmdFEAT(string) bool {
	feats := []string{"UTF8", "EPSV", "MDTM", "SIZE", "REST STREAM", "TVFS", "MFMT", "HASH SHA-256*",
		"MLST type*;size*;modify*;perm*;unix.mode*;"}
	if ss.srv.ActiveMode {
		feats = append(feats, "EPRT")
	}
	if ss.srv.TLSConfig != nil {
		feats = append(feats, "AUTH TLS", "PBSZ", "PROT")
	}
	ss.replyLines(211, "Features:", feats, "End")
	return false
}

func (ss *session) cmdOPTS(arg string) bool {
	opt, val, _ := strings.Cut(arg, " ")
	switch strings.ToUpper(opt) {
	case "UTF8", "UTF-8":
		if v := strings.ToUpper(strings.TrimSpace(val)); v == "" || v == "ON" {
			ss.reply(200, "UTF8 mode always enabled.")
		} else {
			ss.reply(504, "UTF8 cannot be turned off.")
		}
	case "MLST":
		ss.reply(200, "MLST OPTS type;size;modify;perm;unix.mode;")
	case "HASH":
		if v := strings.ToUpper(strings.TrimSpace(val)); v == "" || v == "SHA-256" {
			ss.reply(200, "SHA-256")
		} else {
			ss.reply(501, "Only SHA-256 is supported.")
		}
	default:
		ss.reply(501, "Option not understood.")
	}
	return false
}

func (ss *session) cmdHELP(string) bool {
	verbs := make([]string, 0, len(commands))
	for v := range commands {
		verbs = append(verbs, v)
	}
	slices.Sort(verbs)
	var body []string
	for i := 0; i < len(verbs); i += 8 {
		body = append(body, strings.Join(verbs[i:min(i+8, len(verbs))], " "))
	}
	ss.replyLines(214, "The following commands are recognized.", body, "Help OK.")
	return false
}

func (ss *session) cmdSTAT(arg string) bool {
	if strings.TrimSpace(arg) == "" {
		who := "not logged in"
		if ss.user != nil {
			who = "logged in as " + ss.user.Name
		}
		typ := "BINARY"
		if ss.ascii {
			typ = "ASCII"
		}
		ss.replyLines(211, "FTP server status:", []string{"Connected from " + ss.clientIP.String(), who,
			"TYPE: " + typ + ", MODE: Stream, STRU: File", "Data connections encrypted: " + strconv.FormatBool(ss.protP)}, "End of status.")
		return false
	}
	if ss.user == nil {
		ss.reply(530, "Please login with USER and PASS.")
		return false
	}
	if !ss.user.Access.canRead() {
		ss.replyErr(ErrPermission, 550)
		return false
	}
	lines, err := ss.listLines(listArg(arg), formatLIST)
	if err != nil {
		ss.replyErr(err, 450)
		return false
	}
	ss.replyLines(213, "Status of "+arg+":", lines, "End of status.")
	return false
}

func (ss *session) cmdAUTH(arg string) bool {
	switch strings.ToUpper(strings.TrimSpace(arg)) {
	case "TLS", "SSL", "TLS-C", "TLS-P":
	default:
		ss.reply(504, "Unsupported security mechanism.")
		return false
	}
	if ss.srv.TLSConfig == nil {
		ss.reply(502, "TLS not configured.")
		return false
	}
	if ss.controlTLS {
		ss.reply(503, "Already using TLS.")
		return false
	}
	if ss.r.Buffered() > 0 {
		ss.reply(503, "Commands pipelined after AUTH; refused.")
		return true
	}
	ss.reply(234, "AUTH TLS successful.")
	tb := ss.srv.newTLSBinding()
	tc := tls.Server(ss.conn, tb.control)
	_ = tc.SetDeadline(time.Now().Add(ss.srv.dataTimeout()))
	if err := tc.Handshake(); err != nil {
		ss.log("TLS handshake failed", "err", err)
		return true
	}
	_ = tc.SetDeadline(time.Time{})
	ss.wmu.Lock()
	ss.conn = tc
	ss.wmu.Unlock()
	ss.r.Reset(tc)
	ss.controlTLS = true
	ss.tls = tb
	return false
}

func (ss *session) cmdPBSZ(arg string) bool {
	if !ss.controlTLS {
		ss.reply(503, "PBSZ needs a TLS control connection.")
		return false
	}
	ss.pbsz = true
	ss.reply(200, "PBSZ=0")
	return false
}

func (ss *session) cmdPROT(arg string) bool {
	if !ss.controlTLS {
		ss.reply(503, "PROT needs a TLS control connection.")
		return false
	}
	if !ss.pbsz {
		ss.reply(503, "PBSZ first.")
		return false
	}
	switch strings.ToUpper(strings.TrimSpace(arg)) {
	case "P":
		ss.protP = true
		ss.reply(200, "Protection level set to Private.")
	case "C":
		if ss.srv.tlsMode() != TLSExplicit {
			ss.reply(534, "Clear data connections refused by policy.")
			return false
		}
		ss.protP = false
		ss.reply(200, "Protection level set to Clear.")
	default:
		ss.reply(536, "Protection level not supported.")
	}
	return false
}

func (ss *session) cmdTYPE(arg string) bool {
	switch strings.ToUpper(strings.Join(strings.Fields(arg), " ")) {
	case "A", "A N":
		ss.ascii = true
		ss.reply(200, "Type set to A.")
	case "I", "L 8":
		ss.ascii = false
		ss.reply(200, "Type set to I.")
	default:
		ss.reply(504, "Type not supported.")
	}
	return false
}

func (ss *session) cmdMODE(arg string) bool {
	if strings.EqualFold(strings.TrimSpace(arg), "S") {
		ss.reply(200, "Mode set to S.")
	} else {
		ss.reply(504, "Only stream mode is supported.")
	}
	return false
}

func (ss *session) cmdSTRU(arg string) bool {
	if strings.EqualFold(strings.TrimSpace(arg), "F") {
		ss.reply(200, "Structure set to F.")
	} else {
		ss.reply(504, "Only file structure is supported.")
	}
	return false
}

// checkActive enforces the PORT/EPRT rules: active mode enabled, only to the
// control connection's client IP (no FXP bounce), never a privileged port.
func (ss *session) checkActive(ap netip.AddrPort) error {
	if !ss.srv.AllowForeignData && ap.Addr().Unmap() != ss.clientIP {
		return ErrForeignAddress
	}
	if ap.Port() < 1024 {
		return ErrPrivilegedPort
	}
	return nil
}

func (ss *session) setActive(arg string, parse func(string) (netip.AddrPort, error)) bool {
	if !ss.srv.ActiveMode {
		ss.reply(502, "Active mode is disabled; use PASV or EPSV.")
		return false
	}
	if ss.epsvAll {
		ss.reply(503, "EPSV ALL in effect.")
		return false
	}
	ap, err := parse(arg)
	if err == nil {
		err = ss.checkActive(ap)
	}
	if err != nil {
		ss.srv.logger().Warn("refused active data address", "remote", ss.clientIP.String(), "target", arg, "err", err)
		ss.replyErr(err, 501)
		return false
	}
	ss.dropData()
	ss.active = ap
	ss.reply(200, "Command okay.")
	return false
}

func (ss *session) cmdPORT(arg string) bool { return ss.setActive(arg, ParsePORT) }
func (ss *session) cmdEPRT(arg string) bool { return ss.setActive(arg, ParseEPRT) }

// pasvAddress chooses the IPv4 address for a 227 reply.
func (ss *session) pasvAddress() (netip.Addr, error) {
	srv := ss.srv
	ctx := context.Background()
	for _, o := range srv.AddressOverrides {
		if o.Prefix.Contains(ss.clientIP) {
			ip, err := srv.addresses.resolve4(ctx, o.Address)
			if err == nil && ip.IsValid() {
				return ip, nil
			}
			srv.logger().Warn("address override unusable", "address", o.Address, "err", err)
		}
	}
	if pub := srv.addresses.get(); pub != "" {
		ip, err := srv.addresses.resolve4(ctx, pub)
		if err == nil && ip.IsValid() {
			return ip, nil
		}
		srv.logger().Warn("public address unusable for PASV", "address", pub, "err", err)
	}
	if isPrivateClient(ss.clientIP) && ss.localIP.Is4() {
		return ss.localIP, nil
	}
	return netip.Addr{}, ErrNoAddress
}

func (ss *session) cmdPASV(string) bool {
	if ss.epsvAll {
		ss.reply(503, "EPSV ALL in effect.")
		return false
	}
	ip, err := ss.pasvAddress()
	if err != nil {
		ss.dropData()
		ss.replyErr(err, 425)
		return false
	}
	pd, err := ss.reservePassive()
	if err != nil {
		ss.replyErr(err, 425)
		return false
	}
	yieldToClient(ss.raw)
	ss.reply(227, formatPASV(ip, int(ss.srv.PassivePorts.Advertised(int32(pd.Port)))))
	return false
}

func (ss *session) cmdEPSV(arg string) bool {
	arg = strings.TrimSpace(arg)
	switch {
	case strings.EqualFold(arg, "ALL"):
		ss.epsvAll = true
		ss.reply(200, "EPSV ALL ok.")
		return false
	case arg == "":
	case arg == "1" && ss.localIP.Is4(), arg == "2" && ss.localIP.Is6():
	default:
		if ss.localIP.Is4() {
			ss.reply(522, "Network protocol not supported, use (1).")
		} else {
			ss.reply(522, "Network protocol not supported, use (2).")
		}
		return false
	}
	pd, err := ss.reservePassive()
	if err != nil {
		ss.replyErr(err, 425)
		return false
	}
	yieldToClient(ss.raw)
	ss.reply(229, fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", ss.srv.PassivePorts.Advertised(int32(pd.Port))))
	return false
}

// passiveReplyPause is how long a PASV/EPSV answer waits, off the CPU, before
// it is written when the client shares our CPU (see yieldToClient). curl
// before 8.4.0 (Debian 12 ships 7.88.1) checks three times without waiting for
// the reply right after it sends PASV/EPSV; if the reply is already there, it
// ends its DO phase without asking to be run again and then waits in poll()
// with no socket to watch until its timer fires (1 s, or 200 ms at the start):
// one such stall per file of a batch (fixed upstream by curl commit 6dd6654,
// "multi: set CURLM_CALL_MULTI_PERFORM after switch to DOING_MORE"). The reply
// is there that early when the client is on the same host: its send wakes our
// thread on its own CPU, the scheduler runs us first, and we answered without
// ever blocking. C servers that block on the way (vsftpd asks its privileged
// process for the socket) rarely trigger it. Sleeping in the kernel for a
// moment hands the CPU back to the client, which is then waiting in poll()
// when the reply arrives. 20 µs was too short under load; see
// docs/benchmarks.md for the measurements and the cost.
const passiveReplyPause = 50 * time.Microsecond

// reservePassive replaces any prepared data channel: one pending listener per
// session, so a client cannot hoard ports.
func (ss *session) reservePassive() (*pendingData, error) {
	ss.dropData()
	pd, err := ss.srv.pool.reserve(ss.clientIP)
	if err != nil {
		return nil, err
	}
	ss.pending = pd
	return pd, nil
}

func (ss *session) cmdREST(arg string) bool {
	n, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
	if err != nil || n < 0 {
		ss.reply(501, "Invalid restart position.")
		return false
	}
	ss.rest = n
	ss.reply(350, fmt.Sprintf("Restarting at %d. Send STORE or RETRIEVE.", n))
	return false
}

func (ss *session) cmdPWD(string) bool {
	ss.reply(257, quotePath(ss.cwd)+" is the current directory.")
	return false
}

func (ss *session) cmdCWD(arg string) bool {
	vp, name, err := ss.resolve(arg)
	if err == nil {
		var fi fs.FileInfo
		if fi, err = ss.st.Stat(name); err == nil && !fi.IsDir() {
			err = errNotDir
		}
	}
	if err != nil {
		ss.replyErr(err, 550)
		return false
	}
	ss.cwd = vp
	ss.reply(250, "Directory changed to "+vp+".")
	return false
}

func (ss *session) cmdCDUP(string) bool { return ss.cmdCWD("..") }

func (ss *session) cmdMKD(arg string) bool {
	if !ss.user.Access.canWrite() {
		ss.replyErr(ErrPermission, 550)
		return false
	}
	vp, name, err := ss.resolve(arg)
	if err == nil {
		err = ss.st.Mkdir(name)
	}
	if err != nil {
		ss.replyErr(err, 550)
		return false
	}
	ss.reply(257, quotePath(vp)+" created.")
	return false
}

func (ss *session) cmdRMD(arg string) bool {
	if !ss.user.Access.canModify() {
		ss.replyErr(ErrPermission, 550)
		return false
	}
	_, name, err := ss.resolve(arg)
	if err == nil && name == "." {
		err = ErrPermission
	}
	if err == nil {
		var fi fs.FileInfo
		if fi, err = ss.st.Lstat(name); err == nil && !fi.IsDir() {
			err = errNotDir
		}
	}
	if err == nil {
		err = ss.st.Rmdir(name)
	}
	if err != nil {
		ss.replyErr(err, 550)
		return false
	}
	ss.reply(250, "Directory removed.")
	return false
}

func (ss *session) cmdDELE(arg string) bool {
	if !ss.user.Access.canModify() {
		ss.replyErr(ErrPermission, 550)
		return false
	}
	_, name, err := ss.resolve(arg)
	if err == nil {
		var fi fs.FileInfo
		if fi, err = ss.st.Lstat(name); err == nil && fi.IsDir() {
			err = errNotFile
		}
	}
	if err == nil {
		err = ss.st.Remove(name)
	}
	if err != nil {
		ss.replyErr(err, 550)
		return false
	}
	ss.reply(250, "File deleted.")
	return false
}

func (ss *session) cmdRNFR(arg string) bool {
	if !ss.user.Access.canModify() {
		ss.replyErr(ErrPermission, 550)
		return false
	}
	_, name, err := ss.resolve(arg)
	if err == nil && name == "." {
		err = ErrPermission
	}
	if err == nil {
		_, err = ss.st.Lstat(name)
	}
	if err != nil {
		ss.replyErr(err, 550)
		return false
	}
	ss.renameFrom = name
	ss.reply(350, "Ready for RNTO.")
	return false
}

func (ss *session) cmdRNTO(arg string) bool {
	from := ss.renameFrom
	ss.renameFrom = ""
	if from == "" {
		ss.reply(503, "RNFR first.")
		return false
	}
	_, name, err := ss.resolve(arg)
	if err == nil && name == "." {
		err = ErrPermission
	}
	if err == nil {
		err = ss.st.Rename(from, name)
	}
	if err != nil {
		ss.replyErr(err, 553)
		return false
	}
	ss.reply(250, "Rename successful.")
	return false
}

// statFile resolves arg to an existing regular file the user may read.
func (ss *session) statFile(arg string) (string, fs.FileInfo, error) {
	if !ss.user.Access.canRead() {
		return "", nil, ErrPermission
	}
	_, name, err := ss.resolve(arg)
	if err != nil {
		return "", nil, err
	}
	fi, err := ss.st.Stat(name)
	if err != nil {
		return "", nil, err
	}
	if !fi.Mode().IsRegular() {
		return "", nil, errNotFile
	}
	return name, fi, nil
}

// openFile resolves arg and opens it for reading from offset, with one
// request to the storage where it can (S3: the GET, no HEAD before it). A
// backend that answers "not found" for a directory is asked again through
// statFile, so the reply is the one SIZE gives.
func (ss *session) openFile(arg string, offset int64) (io.ReadCloser, fs.FileInfo, error) {
	if !ss.user.Access.canRead() {
		return nil, nil, ErrPermission
	}
	_, name, err := ss.resolve(arg)
	if err != nil {
		return nil, nil, err
	}
	f, fi, err := ss.st.OpenRead(name, offset)
	if errors.Is(err, fs.ErrNotExist) {
		if _, _, serr := ss.statFile(arg); serr != nil {
			err = serr
		}
	}
	if err != nil {
		return nil, nil, err
	}
	return f, fi, nil
}

func (ss *session) cmdSIZE(arg string) bool {
	_, fi, err := ss.statFile(arg)
	if err != nil {
		ss.replyErr(err, 550)
		return false
	}
	ss.reply(213, strconv.FormatInt(fi.Size(), 10))
	return false
}

const mdtmLayout = "20060102150405"

func (ss *session) cmdMDTM(arg string) bool {
	_, fi, err := ss.statFile(arg)
	if err != nil {
		ss.replyErr(err, 550)
		return false
	}
	ss.reply(213, fi.ModTime().UTC().Format(mdtmLayout))
	return false
}

func (ss *session) cmdMFMT(arg string) bool {
	ts, file, ok := strings.Cut(arg, " ")
	t, err := time.ParseInLocation(mdtmLayout, ts, time.UTC)
	if !ok || err != nil || file == "" {
		ss.reply(501, "Usage: MFMT YYYYMMDDHHMMSS path")
		return false
	}
	if !ss.user.Access.canModify() {
		ss.replyErr(ErrPermission, 550)
		return false
	}
	_, name, err := ss.resolve(file)
	if err == nil {
		err = ss.st.SetModTime(name, t)
	}
	if err != nil {
		ss.replyErr(err, 550)
		return false
	}
	ss.reply(213, "Modify="+ts+"; "+file)
	return false
}

func (ss *session) cmdMLST(arg string) bool {
	if !ss.user.Access.canRead() {
		ss.replyErr(ErrPermission, 550)
		return false
	}
	if strings.TrimSpace(arg) == "" {
		arg = ss.cwd
	}
	vp, name, err := ss.resolve(arg)
	var fi fs.FileInfo
	if err == nil {
		fi, err = ss.st.Stat(name)
	}
	if err != nil {
		ss.replyErr(err, 550)
		return false
	}
	ss.replyLines(250, "Listing "+arg, []string{ss.mlsxFacts(fi) + " " + vp}, "End")
	return false
}
