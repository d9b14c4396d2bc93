using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Fahrtenbuch.Server.Infrastructure.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class OdometerReview : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "ReviewResolution",
                table: "OdometerReadings",
                type: "character varying(500)",
                maxLength: 500,
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "ReviewResolvedAt",
                table: "OdometerReadings",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "ReviewResolvedBy",
                table: "OdometerReadings",
                type: "uuid",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "ReviewResolution",
                table: "OdometerReadings");

            migrationBuilder.DropColumn(
                name: "ReviewResolvedAt",
                table: "OdometerReadings");

            migrationBuilder.DropColumn(
                name: "ReviewResolvedBy",
                table: "OdometerReadings");
        }
    }
}
