"""witnesses: who cosigns a community's checkpoints, their cosignatures, the quorum

Revision ID: 556dec4a9b1f
Revises: f32304623d76
Create Date: 2026-11-27 17:46:10.894496
"""

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '556dec4a9b1f'
down_revision: str | None = 'f32304623d76'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('witness',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('vkey', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('last_size', sa.Integer(), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_witness_community_id_community')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_witness')),
    sa.UniqueConstraint('community_id', 'name', name=op.f('uq_witness_community_id_name'))
    )
    with op.batch_alter_table('witness', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_witness_community_id'), ['community_id'], unique=False)

    op.create_table('cosignature',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('checkpoint_id', sa.Integer(), nullable=False),
    sa.Column('witness_id', sa.Integer(), nullable=False),
    sa.Column('line', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['checkpoint_id'], ['checkpoint.id'], name=op.f('fk_cosignature_checkpoint_id_checkpoint')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_cosignature_community_id_community')),
    sa.ForeignKeyConstraint(['witness_id'], ['witness.id'], name=op.f('fk_cosignature_witness_id_witness')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cosignature')),
    sa.UniqueConstraint('checkpoint_id', 'witness_id', name=op.f('uq_cosignature_checkpoint_id_witness_id'))
    )
    with op.batch_alter_table('cosignature', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cosignature_checkpoint_id'), ['checkpoint_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cosignature_community_id'), ['community_id'], unique=False)

    with op.batch_alter_table('community', schema=None) as batch_op:
        batch_op.add_column(sa.Column('witness_quorum', sa.Integer(), server_default='0', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('community', schema=None) as batch_op:
        batch_op.drop_column('witness_quorum')

    with op.batch_alter_table('cosignature', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cosignature_community_id'))
        batch_op.drop_index(batch_op.f('ix_cosignature_checkpoint_id'))

    op.drop_table('cosignature')
    with op.batch_alter_table('witness', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_witness_community_id'))

    op.drop_table('witness')
