// Package flash writes an SD card image built by surveyctl image onto a
// card, with /perm grown to the end of the card, and reads back what it
// wrote.
//
// The card gets the image's partition table, boot and root partitions as
// they are. Partition 4 is then extended to the card's last sector and
// given a new ext4 file system of that size, holding the files the image
// had on /perm (auth key, directories) with their modes, owners and times.
// The file system is made with go-diskfs, in Go, so the operator's machine
// needs no e2fsprogs, and macOS works like Linux.
//
// Before anything is written, the device must be a whole disk that nothing
// uses: Inspect refuses partitions, mounted or otherwise held disks, and
// the disk of the running system.
package flash

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

const (
	chunkSize = 4 << 20 // per write and read-back
	wipeSize  = 1 << 20 // cleared at both ends of /perm, so no old signature survives
)

// ErrNotConfirmed is returned when Options.Confirm declines.
var ErrNotConfirmed = errors.New("not confirmed: nothing was written")

// Options say what to flash where.
type Options struct {
	Image  string // built by surveyctl image
	Device string // a whole disk: /dev/sdX, /dev/mmcblkN, /dev/loopN, /dev/diskN
	// Confirm, if set, is shown what will be overwritten before anything
	// is written; false aborts with ErrNotConfirmed.
	Confirm func(d *Device, img *Image) (bool, error)
	// NoVerify skips reading the card back.
	NoVerify bool
	Progress io.Writer    // bytes written or verified, rate and time left; nil: none
	Log      *slog.Logger // nil: none
}

// Result describes a flashed card.
type Result struct {
	Device   *Device
	Image    *Image
	PermSize int64         // /perm's partition on the card
	Write    time.Duration // the image's boot and root partitions
	Perm     time.Duration // /perm's file system
	Verify   time.Duration // reading it all back (0 with NoVerify)
}

// Flash writes o.Image to o.Device, grows /perm to the device's end and
// verifies the result.
func Flash(ctx context.Context, o Options) (*Result, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, err := Inspect(ctx, o.Device)
	if err != nil {
		return nil, err
	}
	img, err := OpenImage(o.Image)
	if err != nil {
		return nil, err
	}
	if d.Size < img.Size {
		return nil, fmt.Errorf("%s (%s) is smaller than the image (%s): use a larger card", d.Path, humanBytes(d.Size), humanBytes(img.Size))
	}
	if o.Confirm != nil {
		ok, err := o.Confirm(d, img)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ErrNotConfirmed
		}
		// Time passed: the card may have been swapped or mounted.
		again, err := Inspect(ctx, o.Device)
		if err != nil {
			return nil, err
		}
		if again.Path != d.Path || again.Size != d.Size {
			return nil, fmt.Errorf("%s changed while waiting for confirmation (now %s): nothing was written", o.Device, again)
		}
	}
	f, err := openDevice(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	j := &job{dev: d, img: img, f: f, store: newSectorStorage(f, d.WritePath, d.Size), progress: o.Progress, log: log}
	res, err := j.run(ctx, !o.NoVerify)
	if err != nil {
		return nil, err
	}
	return res, f.Close()
}

// job is one flash in progress.
type job struct {
	dev      *Device
	img      *Image
	f        *os.File
	store    *sectorStorage
	progress io.Writer
	log      *slog.Logger
}

func (j *job) run(ctx context.Context, verify bool) (*Result, error) {
	// /perm ends at the card's last sector, or where an MBR stops counting.
	permEnd := min(j.store.size, maxImageSize)
	if permEnd < j.store.size {
		j.log.Warn("the card is larger than an MBR addresses; /perm ends at 2 TiB", "device", j.dev.Path, "size", j.dev.Size)
	}
	permSize := permEnd - j.img.PermStart
	mbr := j.img.mbrWithPermSectors(uint32(permSize / sectorSize))
	res := &Result{Device: j.dev, Image: j.img, PermSize: permSize}

	j.log.Info("writing the boot and root partitions", "device", j.dev.Path, "bytes", j.img.PermStart)
	sums, d, err := j.writeImage(ctx, mbr)
	if err != nil {
		return nil, fmt.Errorf("writing the image to %s: %w (the card is incomplete and has no partition table: flash it again)", j.dev.Path, err)
	}
	res.Write = d

	start := time.Now()
	j.log.Info("creating /perm", "size", humanBytes(permSize), "files", len(j.img.perm))
	if err := j.writePerm(permSize); err != nil {
		return nil, fmt.Errorf("/perm on %s: %w (the card has no partition table: flash it again)", j.dev.Path, err)
	}
	// The partition table last: until now an interrupted flash left a card
	// that nothing mistakes for a working one.
	if _, err := j.store.WriteAt(mbr, 0); err != nil {
		return nil, fmt.Errorf("writing the partition table to %s: %w", j.dev.Path, err)
	}
	if err := flushDevice(j.f); err != nil {
		return nil, err
	}
	res.Perm = time.Since(start)

	if verify {
		start := time.Now()
		if err := j.verifyImage(ctx, sums); err != nil {
			return nil, err
		}
		if err := verifyPerm(j.store, j.img.PermStart, permSize, j.img.perm); err != nil {
			return nil, fmt.Errorf("/perm on %s does not read back as written: %w", j.dev.Path, err)
		}
		res.Verify = time.Since(start)
		j.log.Info("verified", "device", j.dev.Path, "duration", res.Verify.Round(time.Millisecond))
	}
	if err := rereadPartitions(j.f); err != nil {
		j.log.Warn(err.Error())
	}
	return res, nil
}

// writeImage copies the image up to /perm onto the card, sector 0 zeroed
// (the partition table is written last), and returns the SHA-256 of each
// chunk as the card must read back, partition table included.
func (j *job) writeImage(ctx context.Context, mbr []byte) ([][sha256.Size]byte, time.Duration, error) {
	src, err := os.Open(j.img.Path)
	if err != nil {
		return nil, 0, fmt.Errorf("opening the image: %w", err)
	}
	defer src.Close()
	m := newMeter(j.progress, "writing", j.img.PermStart)
	var sums [][sha256.Size]byte
	buf := make([]byte, chunkSize)
	for off := int64(0); off < j.img.PermStart; off += chunkSize {
		if err := ctx.Err(); err != nil {
			return nil, 0, fmt.Errorf("interrupted at byte %d: %w", off, err)
		}
		b := buf[:min(chunkSize, j.img.PermStart-off)]
		if _, err := src.ReadAt(b, off); err != nil {
			return nil, 0, fmt.Errorf("reading the image at byte %d: %w", off, err)
		}
		if off == 0 {
			copy(b, mbr)
			sums = append(sums, sha256.Sum256(b))
			clear(b[:sectorSize])
		} else {
			sums = append(sums, sha256.Sum256(b))
		}
		if _, err := j.store.WriteAt(b, off); err != nil {
			return nil, 0, fmt.Errorf("at byte %d: %w", off, err)
		}
		m.add(int64(len(b)))
	}
	return sums, m.finish(), nil
}

// writePerm clears what a previous use of the card left where /perm's
// file system starts and at the card's end (a backup GPT), then creates
// /perm.
func (j *job) writePerm(permSize int64) error {
	zero := make([]byte, wipeSize)
	for _, off := range []int64{j.img.PermStart, j.img.PermStart + permSize - wipeSize} {
		if _, err := j.store.WriteAt(zero, off); err != nil {
			return fmt.Errorf("clearing bytes %d–%d: %w", off, off+wipeSize, err)
		}
	}
	label := j.img.PermLabel
	if label == "" {
		label = "perm"
	}
	return writePerm(j.store, j.img.PermStart, permSize, label, j.img.perm)
}

// verifyImage reads the boot and root partitions back from the card.
func (j *job) verifyImage(ctx context.Context, sums [][sha256.Size]byte) error {
	m := newMeter(j.progress, "verifying", j.img.PermStart)
	buf := make([]byte, chunkSize)
	for i, off := 0, int64(0); off < j.img.PermStart; i, off = i+1, off+chunkSize {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("verifying %s: interrupted: %w", j.dev.Path, err)
		}
		b := buf[:min(chunkSize, j.img.PermStart-off)]
		if _, err := j.store.ReadAt(b, off); err != nil {
			return fmt.Errorf("reading %s back at byte %d: %w", j.dev.Path, off, err)
		}
		if sha256.Sum256(b) != sums[i] {
			return fmt.Errorf("%s reads back different from what was written in bytes %d–%d: the card may be failing, or fake (smaller than it claims)", j.dev.Path, off, off+int64(len(b)))
		}
		m.add(int64(len(b)))
	}
	m.finish()
	return nil
}
