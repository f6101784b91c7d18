// An injected I/O error for the storage-failure tests: a pass-through SQLite VFS, installed as the
// process's default, that answers SQLITE_IOERR_WRITE to writes into files whose path contains
// `FaultyVFS.marker` while `FaultyVFS.failing` is set. Every other file (other tests run in the same
// process) goes straight through. Only writes fail, never fsyncs: a failed fsync after written WAL
// frames is a different question (SQLite may find those frames on the next start).

import Foundation
import GRDBSQLite
import Synchronization

enum FaultyVFS {
    /// Paths containing this fail their writes while `failing` is set.
    static let marker = "faulty-io"
    static let failing = Atomic(false)
    /// SQLITE_IOERR_WRITE (SQLITE_IOERR | 3 << 8; a C macro Swift does not import).
    static let ioErrorWrite: Int32 = SQLITE_IOERR | (3 << 8)
    /// While set, opening a marked main database read-write *without* SQLITE_OPEN_CREATE fails with
    /// SQLITE_CANTOPEN: that is how the WAL checkpointer opens its connection (the writer opens
    /// with CREATE, readers read-only), so only the checkpointer is refused.
    static let failingCheckpointerOpens = Atomic(false)
    /// Writes refused so far.
    static let refusedWrites = Atomic(0)

    /// Installs the VFS once (idempotent); true when it is the default.
    static func install() -> Bool { installed }

    private static let installed: Bool = {
        guard let original = sqlite3_vfs_find(nil) else { return false }
        FaultyVFSState.original = original
        let vfs = UnsafeMutablePointer<sqlite3_vfs>.allocate(capacity: 1)
        vfs.initialize(to: original.pointee)
        vfs.pointee.zName = UnsafePointer(strdup("waybill-faulty"))
        vfs.pointee.szOsFile = Int32(FaultyVFSState.headerBytes) + original.pointee.szOsFile
        vfs.pointee.pNext = nil
        vfs.pointee.xOpen = faultyOpen
        return sqlite3_vfs_register(vfs, 1) == SQLITE_OK
    }()
}

/// Set once before the VFS is registered, read-only afterwards.
enum FaultyVFSState {
    nonisolated(unsafe) static var original: UnsafeMutablePointer<sqlite3_vfs>?
    /// Our file: the sqlite3_file header (methods pointer), a flag word, then the real file.
    static let headerBytes = 16
    nonisolated(unsafe) static let methods: UnsafeMutablePointer<sqlite3_io_methods> = {
        let methods = UnsafeMutablePointer<sqlite3_io_methods>.allocate(capacity: 1)
        methods.initialize(to: sqlite3_io_methods(
            iVersion: 3,
            xClose: { file in real(file).map { $0.pointee.pMethods.pointee.xClose($0) } ?? SQLITE_OK },
            xRead: { file, buffer, amount, offset in let r = real(file)!; return r.pointee.pMethods.pointee.xRead(r, buffer, amount, offset) },
            xWrite: { file, buffer, amount, offset in
                if faulty(file) && FaultyVFS.failing.load(ordering: .acquiring) {
                    FaultyVFS.refusedWrites.add(1, ordering: .relaxed)
                    return FaultyVFS.ioErrorWrite
                }
                let r = real(file)!
                return r.pointee.pMethods.pointee.xWrite(r, buffer, amount, offset)
            },
            xTruncate: { file, size in let r = real(file)!; return r.pointee.pMethods.pointee.xTruncate(r, size) },
            xSync: { file, flags in let r = real(file)!; return r.pointee.pMethods.pointee.xSync(r, flags) },
            xFileSize: { file, size in let r = real(file)!; return r.pointee.pMethods.pointee.xFileSize(r, size) },
            xLock: { file, lock in let r = real(file)!; return r.pointee.pMethods.pointee.xLock(r, lock) },
            xUnlock: { file, lock in let r = real(file)!; return r.pointee.pMethods.pointee.xUnlock(r, lock) },
            xCheckReservedLock: { file, out in let r = real(file)!; return r.pointee.pMethods.pointee.xCheckReservedLock(r, out) },
            xFileControl: { file, op, arg in let r = real(file)!; return r.pointee.pMethods.pointee.xFileControl(r, op, arg) },
            xSectorSize: { file in let r = real(file)!; return r.pointee.pMethods.pointee.xSectorSize(r) },
            xDeviceCharacteristics: { file in let r = real(file)!; return r.pointee.pMethods.pointee.xDeviceCharacteristics(r) },
            xShmMap: { file, region, size, extend, out in let r = real(file)!; return r.pointee.pMethods.pointee.xShmMap(r, region, size, extend, out) },
            xShmLock: { file, offset, n, flags in let r = real(file)!; return r.pointee.pMethods.pointee.xShmLock(r, offset, n, flags) },
            xShmBarrier: { file in let r = real(file)!; r.pointee.pMethods.pointee.xShmBarrier(r) },
            xShmUnmap: { file, delete in let r = real(file)!; return r.pointee.pMethods.pointee.xShmUnmap(r, delete) },
            xFetch: { file, offset, amount, out in let r = real(file)!; return r.pointee.pMethods.pointee.xFetch(r, offset, amount, out) },
            xUnfetch: { file, offset, pointer in let r = real(file)!; return r.pointee.pMethods.pointee.xUnfetch(r, offset, pointer) }))
        return methods
    }()

    static func real(_ file: UnsafeMutablePointer<sqlite3_file>?) -> UnsafeMutablePointer<sqlite3_file>? {
        guard let file else { return nil }
        return UnsafeMutableRawPointer(file).advanced(by: headerBytes).assumingMemoryBound(to: sqlite3_file.self)
    }

    static func faulty(_ file: UnsafeMutablePointer<sqlite3_file>?) -> Bool {
        guard let file else { return false }
        return UnsafeMutableRawPointer(file).advanced(by: 8).load(as: Int.self) != 0
    }
}

private func faultyOpen(_ vfs: UnsafeMutablePointer<sqlite3_vfs>?, _ name: UnsafePointer<CChar>?, _ file: UnsafeMutablePointer<sqlite3_file>?,
                        _ flags: Int32, _ outFlags: UnsafeMutablePointer<Int32>?) -> Int32 {
    guard let original = FaultyVFSState.original, let file, let real = FaultyVFSState.real(file) else { return SQLITE_CANTOPEN }
    let marked = name.map { String(cString: $0).contains(FaultyVFS.marker) } ?? false
    let checkpointerLike = flags & SQLITE_OPEN_MAIN_DB != 0 && flags & SQLITE_OPEN_READWRITE != 0 && flags & SQLITE_OPEN_CREATE == 0
    if marked && checkpointerLike && FaultyVFS.failingCheckpointerOpens.load(ordering: .acquiring) {
        file.pointee.pMethods = nil
        return SQLITE_CANTOPEN
    }
    file.pointee.pMethods = nil
    let code = original.pointee.xOpen(original, name, real, flags, outFlags)
    guard code == SQLITE_OK, real.pointee.pMethods != nil else { return code }
    UnsafeMutableRawPointer(file).advanced(by: 8).storeBytes(of: marked ? 1 : 0, as: Int.self)
    file.pointee.pMethods = UnsafePointer(FaultyVFSState.methods)
    return SQLITE_OK
}
