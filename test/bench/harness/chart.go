package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// chart draws one panel per measure: a horizontal bar per server (and raw TCP where it applies), scaled to the
// panel's largest value and labelled with the median. Pure Go: image/png and x/image's built-in bitmap font.
func (r *results) chart(path string) error {
	type panel struct {
		m    metric
		rows []string
	}
	var panels []panel
	for _, m := range metrics {
		switch m.key {
		case "retr", "stor", "par", "list", "mlsd", "gosmall", "idle":
		default:
			continue // the table has the rest
		}
		rows := append([]string{}, r.names...)
		if m.raw {
			rows = append(rows, "raw TCP")
		}
		if _, ok := r.samples[m.key]; ok {
			panels = append(panels, panel{m, rows})
		}
	}
	const (
		width  = 960
		left   = 130
		right  = 110
		barH   = 14
		gap    = 4
		titleH = 22
		padB   = 12
	)
	height := 40
	for _, p := range panels {
		height += titleH + len(p.rows)*(barH+gap) + padB
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	text := func(x, y int, s string, c color.Color) {
		d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	black := color.RGBA{0x20, 0x20, 0x20, 0xff}
	grey := color.RGBA{0x70, 0x70, 0x70, 0xff}
	colors := map[string]color.RGBA{
		r.names[0]: {0x1f, 0x77, 0xb4, 0xff}, // ours
		"raw TCP":  {0x99, 0x99, 0x99, 0xff},
	}
	peerColors := []color.RGBA{{0xd6, 0x6a, 0x1f, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0x9c, 0x4d, 0xb8, 0xff}}
	for i, n := range r.names[1:] {
		colors[n] = peerColors[i%len(peerColors)]
	}
	text(10, 20, fmt.Sprintf("ftp-operator engine vs peers, medians of one run (%s, %d CPUs, load1 median %.1f)",
		r.machine.CPUModel, r.machine.CPUs, r.load.Median), black)
	y := 40
	for _, p := range panels {
		dir := "lower is better"
		if p.m.higherBetter {
			dir = "higher is better"
		}
		text(10, y+14, fmt.Sprintf("%s - %s, %s", p.m.title, p.m.unit, dir), black)
		y += titleH
		maxV := 0.0
		for _, n := range p.rows {
			if v, ok := r.value(p.m.key, n); ok && v > maxV {
				maxV = v
			}
		}
		for _, n := range p.rows {
			text(10, y+barH-3, n, grey)
			v, ok := r.value(p.m.key, n)
			if ok && maxV > 0 {
				w := int(float64(width-left-right) * v / maxV)
				draw.Draw(img, image.Rect(left, y, left+max(w, 1), y+barH), image.NewUniform(colors[n]), image.Point{}, draw.Src)
				text(left+max(w, 1)+6, y+barH-3, fmtVal(v), black)
			} else {
				text(left, y+barH-3, "n/a", grey)
			}
			y += barH + gap
		}
		y += padB
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
