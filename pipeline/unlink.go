package pipeline

import (
	"context"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// Unlink deletes a data source and everything stored of its data: every version's file and
// wrapped key, every upload (its parts, and its record with the file name, checksum and report),
// its taxonomy (the segment names), and the data source with its grants. It returns how many
// versions were shredded.
//
// A version a processing job commits meanwhile does not survive: the data source is shredded
// again after its record is gone, and a job that finds it gone after committing shreds it too.
func (s *Service) Unlink(ctx context.Context, ds *cleanroom.DataSource) (int, error) {
	o := versions.DataSourceOwner(ds)
	n, err := s.Versions.Shred(ctx, o)
	if err != nil {
		return 0, err
	}
	if _, err := s.Uploads.DeleteAll(ctx, cleanroom.UploadDataSource, ds.ID); err != nil {
		return 0, err
	}
	if err := s.Store.DeleteTaxonomy(ctx, ds.ID); err != nil {
		return 0, err
	}
	if err := s.Store.DeleteDataSource(ctx, ds.ID); err != nil {
		return 0, err
	}
	more, err := s.Versions.Shred(ctx, o)
	return n + more, err
}
